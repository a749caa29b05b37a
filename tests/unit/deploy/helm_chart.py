"""Rendering helm/streamproc with Helm's own Go SDK (the ``helm-python-sdk`` wheel) for the chart
tests: the ci/ scenarios, parsed manifests, and lookups into them."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "streamproc"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))
RELEASE = "sp"
NAMESPACE = "data"
STATEFUL_ROLES = ("ingest", "aggregations")
SINK_ROLES = ("s3", "opensearch", "warehouse", "eventbridge")

Manifest = dict[str, Any]


@cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


def scenario(name: str) -> dict[str, Any]:
    """The values of ``ci/<name>-values.yaml`` (a fresh copy)."""
    values = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, the way Helm merges a second values file."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_files(values: dict[str, Any], release: str = RELEASE) -> dict[str, str]:
    """Template path → rendered text (schema-checked by the SDK before rendering)."""
    return chart().render(values, name=release, namespace=NAMESPACE)


def render(values: dict[str, Any], release: str = RELEASE) -> list[Manifest]:
    """Every manifest the chart renders for ``values`` (NOTES.txt excluded)."""
    out: list[Manifest] = []
    for path, text in sorted(render_files(values, release).items()):
        if path.endswith("NOTES.txt"):
            continue
        out.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return out


def notes(values: dict[str, Any]) -> str:
    return next(text for path, text in render_files(values).items() if path.endswith("NOTES.txt"))


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def role_name(role: str) -> str:
    return f"{RELEASE}-streamproc-{role}"


def workload(docs: list[Manifest], role: str) -> Manifest:
    kind = "StatefulSet" if role in STATEFUL_ROLES else "Deployment"
    return one(docs, kind, role_name(role))


def container(pod_owner: Manifest) -> dict[str, Any]:
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["streamproc"]
    result: dict[str, Any] = containers[0]
    return result


def env_of(pod_owner: Manifest) -> dict[str, dict[str, Any]]:
    """Container env by name; each name must appear once."""
    env = container(pod_owner).get("env", [])
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"duplicate env names in {pod_owner['metadata']['name']}: {names}"
    return {e["name"]: e for e in env}


def pod_owners(docs: list[Manifest]) -> list[Manifest]:
    return [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "Job")]
