"""The state of the fake OpenSearch: indices (created explicitly or from a composable index
template), aliases with their write index, index templates and ISM policies. Documents are
written by :mod:`.bulk`; every method runs under :attr:`Cluster.lock`."""

from __future__ import annotations

import copy
import fnmatch
import threading
import time
import uuid
from typing import Any

from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.mapping import merge_mappings
from streamproc.dev.opensearch_fake.store import Index, Policy, flat_settings

__all__ = ["Cluster"]

_FORBIDDEN_INDEX_CHARS = set('\\/*?"<>| ,#:')
_ISM_INDEX = ".opendistro-ism-config"


class Cluster:
    """All state of the fake; every method runs under one lock (requests are serialised).

    ``faults`` (``[remaining, status, error type, path substring]``) and ``item_faults``
    (``[remaining, status, error type]``) are the injected failures still to answer;
    ``requests`` is every ``(method, path)`` received.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.uuid = uuid.uuid4().hex[:22]
        self.indices: dict[str, Index] = {}
        self.aliases: dict[str, dict[str, bool]] = {}  # alias → {index: is_write_index}
        self.templates: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, Policy] = {}
        self.policy_seq = -1
        self.faults: list[list[Any]] = []
        self.item_faults: list[list[Any]] = []
        self.requests: list[tuple[str, str]] = []

    # ---------------------------------------------------------------- indices
    def resolve(self, name: str) -> list[Index]:
        """The index ``name``, or the indices of the alias ``name`` (404 when neither exists)."""
        if name in self.indices:
            return [self.indices[name]]
        if name in self.aliases:
            return [self.indices[i] for i in self.aliases[name] if i in self.indices]
        raise FakeError(
            404,
            "index_not_found_exception",
            f"no such index [{name}]",
            index=name,
            **{"resource.type": "index_or_alias", "resource.id": name},
        )

    def write_index(self, name: str, auto_create: bool) -> Index:
        """Where a write to ``name`` goes: the index, the alias's write index, or a new index."""
        if name in self.indices:
            return self.indices[name]
        if name in self.aliases:
            targets = self.aliases[name]
            writers = [i for i, w in targets.items() if w]
            if len(targets) == 1 and not writers:
                writers = list(targets)
            if len(writers) != 1:
                raise FakeError(
                    400,
                    "illegal_argument_exception",
                    f"no write index is defined for alias [{name}]. The write index may be explicitly "
                    "disabled using is_write_index=false or the alias points to multiple indices "
                    "without one being designated as a write index",
                )
            return self.indices[writers[0]]
        if not auto_create:
            raise FakeError(404, "index_not_found_exception", f"no such index [{name}]", index=name)
        return self.create_index(name, {})

    def create_index(self, name: str, body: dict[str, Any]) -> Index:
        """Create ``name`` from the highest-priority matching template overlaid with ``body``."""
        _validate_index_name(name)
        if name in self.indices or name in self.aliases:
            raise FakeError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{uuid.uuid4().hex[:22]}] already exists",
                index=name,
            )
        settings: dict[str, Any] = {}
        mappings: dict[str, Any] = {}
        aliases: dict[str, Any] = {}
        tpl = self.matching_template(name)
        if tpl is not None:
            t = tpl.get("template", {})
            settings.update(flat_settings(t.get("settings", {})))
            mappings = copy.deepcopy(t.get("mappings", {}))
            aliases.update(t.get("aliases", {}))
        settings.update(flat_settings(body.get("settings", {})))
        if body.get("mappings"):
            mappings = merge_mappings(mappings, body["mappings"])
        aliases.update(body.get("aliases", {}))
        settings.setdefault("index.number_of_shards", "1")
        settings.setdefault("index.number_of_replicas", "1")
        index = Index(name, uuid.uuid4().hex[:22], settings, mappings, int(time.time() * 1000))
        for alias, conf in aliases.items():
            if alias in self.indices:
                raise FakeError(
                    400,
                    "invalid_alias_name_exception",
                    f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias",
                )
            is_write = bool((conf or {}).get("is_write_index", False))
            if is_write and any(self.aliases.get(alias, {}).values()):
                raise FakeError(400, "illegal_state_exception", f"alias [{alias}] has more than one write index")
            self.aliases.setdefault(alias, {})[name] = is_write
        self.indices[name] = index
        return index

    def matching_template(self, name: str) -> dict[str, Any] | None:
        best: tuple[int, dict[str, Any]] | None = None
        for body in self.templates.values():
            if any(fnmatch.fnmatchcase(name, p) for p in body.get("index_patterns", [])):
                prio = int(body.get("priority", 0))
                if best is None or prio > best[0]:
                    best = (prio, body)
        return best[1] if best else None

    # ---------------------------------------------------------------- templates, policies
    def put_template(self, name: str, body: dict[str, Any]) -> None:
        """Store a composable template; two templates of one priority may not share patterns."""
        patterns = body.get("index_patterns")
        if not patterns:
            raise FakeError(
                400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"
            )
        prio = int(body.get("priority", 0))
        for other, obody in self.templates.items():
            if other == name or int(obody.get("priority", 0)) != prio:
                continue
            theirs = obody.get("index_patterns", [])
            if any(fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a) for a in patterns for b in theirs):
                raise FakeError(
                    400,
                    "illegal_argument_exception",
                    f"index template [{name}] has index patterns {patterns} matching patterns from existing "
                    f"templates [{other}] with patterns ({other} => {theirs}) that have the same priority "
                    f"[{prio}], multiple index templates may not match during index creation, please use "
                    "a different priority",
                )
        self.templates[name] = copy.deepcopy(body)

    def put_policy(self, pid: str, body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Create an ISM policy, or update it when ``if_seq_no``/``if_primary_term`` match."""
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise FakeError(400, "illegal_argument_exception", "Required [policy] object is missing")
        states = policy.get("states") or []
        names = {s.get("name") for s in states}
        if policy.get("default_state") not in names:
            raise FakeError(400, "illegal_argument_exception", "Policy default state does not exist")
        for s in states:
            for t in s.get("transitions", []):
                if t.get("state_name") not in names:
                    raise FakeError(
                        400,
                        "illegal_argument_exception",
                        f"Policy contains a transition to a state that does not exist [{t.get('state_name')}]",
                    )
        existing = self.policies.get(pid)
        seq, term = query.get("if_seq_no"), query.get("if_primary_term")
        if existing is not None:
            if seq is None or term is None:
                raise FakeError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{pid}]: version conflict, document already exists (current version [{existing.version}])",
                    index=_ISM_INDEX,
                    shard="0",
                )
            if int(seq) != existing.seq_no or int(term) != existing.primary_term:
                raise FakeError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{pid}]: version conflict, required seqNo [{seq}], primary term [{term}]. current "
                    f"document has seqNo [{existing.seq_no}] and primary term [{existing.primary_term}]",
                    index=_ISM_INDEX,
                    shard="0",
                )
        elif seq is not None:
            raise FakeError(404, "document_missing_exception", f"[{pid}]: document missing")
        now = int(time.time() * 1000)
        stored = {
            "policy_id": pid,
            "description": policy.get("description", ""),
            "last_updated_time": now,
            "schema_version": 19,
            "error_notification": policy.get("error_notification"),
            "default_state": policy["default_state"],
            "states": copy.deepcopy(states),
            "ism_template": [{**t, "last_updated_time": now} for t in policy.get("ism_template", [])] or None,
        }
        self.policy_seq += 1
        version = existing.version + 1 if existing else 1
        self.policies[pid] = Policy(stored, self.policy_seq, 1, version)
        return (200 if existing else 201), self.policy_doc(pid, wrap=True)

    def policy_doc(self, pid: str, wrap: bool = False) -> dict[str, Any]:
        p = self.policies.get(pid)
        if p is None:
            raise FakeError(404, "status_exception", "Policy not found")
        return {
            "_id": pid,
            "_version": p.version,
            "_primary_term": p.primary_term,
            "_seq_no": p.seq_no,
            "policy": {"policy": copy.deepcopy(p.body)} if wrap else copy.deepcopy(p.body),
        }


def _validate_index_name(name: str) -> None:
    def bad(why: str) -> FakeError:
        return FakeError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {why}", index=name)

    if name != name.lower():
        raise bad("must be lowercase")
    if any(c in _FORBIDDEN_INDEX_CHARS for c in name):
        raise bad('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]')
    if name[:1] in ("_", "-", "+"):
        raise bad("must not start with '_', '-', or '+'")
    if name in (".", "..") or not name:
        raise bad("must not be '.' or '..'")
    if len(name.encode()) > 255:
        raise bad(f"index name is too long, ({len(name.encode())} > 255)")
