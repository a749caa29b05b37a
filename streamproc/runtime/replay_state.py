"""What ``streamproc replay --reset-state`` removes, found before anything is removed, so the
preview lists exactly that:

* ingest: the local RocksDB files of its tables (``<datadir>/v1/tables/state-<topic>-<n>.db``,
  present only where the worker's data directory is) and the tables' changelog topics
  ``<app_id>-state-<topic>-changelog``, from which Faust would otherwise rebuild those files;
* aggregations: the same for the role's tables (``agg-up-<entity>``, ``agg-<name>``; changelogs
  ``<aggregation app id>-<table>-changelog``) and the repartition topics
  ``<app_id>-agg-<name>-repartition`` (names from ``runtime/agg_names.py``);
* s3: the progress markers of the replayed sink in its bucket (``<env>/_streamproc/offsets/<topic>/<n>``
  for ``s3``, ``_streamproc/archive-offsets/<prefix>/<topic>/<n>`` for ``s3-archive``), so the
  messages and archive records of the re-read offsets are sent again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.errors import ServiceUnavailable
from streamproc.runtime.agg_names import aggregation_topics, table_names
from streamproc.sinks.s3.layout import key_prefix
from streamproc.sinks.s3.markers import archive_marker_key, trigger_marker_key

__all__ = [
    "StateRemoval",
    "tables_dir",
    "ingest_state",
    "aggregation_state",
    "s3_markers",
    "remove",
]

Progress = Callable[[str], None]


@dataclass
class StateRemoval:
    """Everything one reset removes: local paths, Kafka topics, S3 objects (bucket, key)."""

    paths: list[Path] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)
    #: what could not be checked from here (e.g. no local data directory), said in the preview
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "paths": [str(p) for p in self.paths],
            "topics": list(self.topics),
            "objects": [f"s3://{b}/{k}" for b, k in self.objects],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        out = [f"remove local state {p}" for p in self.paths]
        out += [f"delete topic {t}" for t in self.topics]
        out += [f"delete s3://{b}/{k}" for b, k in self.objects]
        return out + [f"note: {n}" for n in self.notes]


def tables_dir(settings: Settings) -> Path:
    """Where Faust keeps the tables of every app run with ``settings.datadir`` (its ``tabledir``)."""
    return settings.datadir / "v1" / "tables"


def _local(settings: Settings, prefixes: Iterable[str], removal: StateRemoval) -> None:
    here = tables_dir(settings)
    if not here.is_dir():
        removal.notes.append(
            f"no local state at {here} (run this where the worker's data directory is, or delete its "
            "volume, e.g. the StatefulSet's PersistentVolumeClaim); the changelog topics are deleted either way"
        )
        return
    wanted = tuple(prefixes)
    for p in sorted(here.iterdir()):
        name = p.name
        if name.endswith(".db") and any(
            name.startswith(w) and name[len(w) :].removesuffix(".db").isdigit() for w in wanted
        ):
            removal.paths.append(p)


def ingest_state(settings: Settings, topics: Iterable[str], existing: set[str]) -> StateRemoval:
    """The ingest role's tables of the source ``topics``: local files and changelog topics."""
    removal = StateRemoval()
    topics = list(topics)
    _local(settings, [f"state-{t}-" for t in topics], removal)
    removal.topics = [n for n in (f"{settings.app_id}-state-{t}-changelog" for t in topics) if n in existing]
    return removal


def aggregation_state(settings: Settings, spec: PipelinesSpec, existing: set[str]) -> StateRemoval:
    """The aggregations' tables (local files, changelog topics) and repartition topics, named as
    the role names them (``runtime/agg_names.py``)."""
    removal = StateRemoval()
    specs = spec.aggregation_specs()
    if not specs:
        removal.notes.append("the pipelines file names no aggregations: no aggregation state to remove")
        return removal
    _local(settings, [f"{t}-" for t in table_names(specs)], removal)
    removal.topics = [t for t in aggregation_topics(settings, specs) if t in existing]
    return removal


def s3_markers(sink: str, spec: PipelinesSpec, tps: Iterable[tuple[str, int]], s3: Any) -> StateRemoval:
    """The progress markers of ``sink`` (``s3`` or ``s3-archive``) for ``tps`` that exist in its bucket."""
    removal = StateRemoval()
    tps = list(tps)
    if sink == "s3" and spec.sinks.s3_trigger is not None:
        bucket = spec.sinks.s3_trigger.bucket
        keys = [trigger_marker_key(spec.sinks.s3_trigger.env, t, p) for t, p in tps]
        prefix = f"{key_prefix(spec.sinks.s3_trigger.env)}_streamproc/offsets/"
    elif sink == "s3-archive" and spec.sinks.s3_archive is not None:
        bucket = spec.sinks.s3_archive.bucket
        keys = [archive_marker_key(spec.sinks.s3_archive.prefix, t, p) for t, p in tps]
        prefix = "_streamproc/archive-offsets/"
    else:
        return removal
    present: set[str] = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            present.update(o["Key"] for o in page.get("Contents", ()))
    except Exception as exc:  # noqa: BLE001 - botocore's errors: named by type and code, no payload
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ServiceUnavailable(f"cannot list the progress markers in s3://{bucket}/{prefix} ({code})") from None
    removal.objects = [(bucket, k) for k in keys if k in present]
    return removal


def remove(removal: StateRemoval, *, delete_topics: Callable[[list[str]], None], s3: Any, progress: Progress) -> None:
    """Remove what ``removal`` lists: local paths, then topics, then S3 objects."""
    for p in removal.paths:
        shutil.rmtree(p, ignore_errors=False) if p.is_dir() else p.unlink(missing_ok=True)
        progress(f"removed {p}")
    delete_topics(removal.topics)
    for bucket, key in removal.objects:
        s3.delete_object(Bucket=bucket, Key=key)
        progress(f"deleted s3://{bucket}/{key}")
