"""``streamproc replay``: move a role's consumer group(s) to earlier (or later) offsets, with a
preview by default, and optionally reset the role's state so the re-read records are emitted or
sent again.

Groups: ``ingest`` is ``STREAMPROC_APP_ID``; a sink role's group is ``settings.sink_app_id(sink)``
(``s3`` has two, the trigger sink's and the archive's, whichever is configured); ``aggregations``
is ``<app_id without -ingest>-aggregations``; ``--group`` names any group. Topics: the role's
(source topics for ingest, clean topics otherwise), restricted by ``--entity`` and ``--topic``.
It refuses (exit 1) while a group has members, and names them and their hosts; a group the
broker reports active without listing members (the embedded broker never lists them, and keeps
a stopped group's state until the next join) is refused too unless ``--workers-stopped``
confirms its workers are stopped. ``--execute`` applies the plan,
removes the state ``--reset-state`` lists, and writes one audit record (log line and the
compacted ``<prefix>.audit`` topic) with who, what, when and every partition's before/after."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from streamproc.cli.replay_report import print_report, progress, refusal
from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings, load_settings
from streamproc.errors import ConfigError, ExitCode
from streamproc.operations.audit import AuditRecord
from streamproc.operations.offsets import (
    PlanRow,
    Target,
    needs_times,
    parse_datetime,
    parse_duration,
    parse_topic_selector,
    plan,
)
from streamproc.runtime.agg_names import aggregation_app_id

__all__ = ["add_arguments", "run", "ROLES", "groups_of"]

ROLES = ("ingest", "s3", "opensearch", "warehouse", "eventbridge", "aggregations")
INGEST_NOTE = (
    "ingest: a reset alone re-emits nothing. Re-read records whose positions the dedupe table already "
    "holds are dropped as duplicates; give --reset-state to emit them again"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--role", choices=ROLES, help="replay this role's consumer group(s)")
    who.add_argument("--group", help="replay this consumer group (any; name its topics with --topic)")
    p.add_argument("--topic", action="append", default=[], metavar="T[:P,P…]", help="only this topic (partitions)")
    p.add_argument("--entity", action="append", default=[], metavar="E", help="only this entity's topics")
    to = p.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="to the first retained offset")
    to.add_argument("--to-latest", action="store_true", help="to the end (skip what is not read yet)")
    to.add_argument("--to-offset", type=int, metavar="N", help="to offset N (clamped to the partition)")
    to.add_argument("--to-datetime", metavar="ISO", help="to the first record at or after this time (UTC if no zone)")
    to.add_argument("--by-duration", metavar="D", help="to this long ago (PT15M, P1D, 15m, 2h, 7d)")
    to.add_argument("--shift-by", type=int, metavar="N", help="move the committed offset by N (negative: back)")
    p.add_argument("--reset-state", action="store_true", help="also remove the role's state (see the docs)")
    p.add_argument("--execute", action="store_true", help="apply; without it the plan is only shown")
    p.add_argument(
        "--workers-stopped",
        action="store_true",
        help="the broker lists no members but reports the group active (the embedded broker keeps a stopped "
        "group's state): confirm every worker of it is stopped. Never overrides members the broker lists",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (overrides the environment)")


def _target(args: argparse.Namespace) -> Target:
    if args.to_earliest:
        return Target("earliest")
    if args.to_latest:
        return Target("latest")
    if args.to_offset is not None:
        return Target("offset", args.to_offset)
    if args.shift_by is not None:
        return Target("shift", args.shift_by)
    if args.to_datetime is not None:
        return Target("datetime", int(parse_datetime(args.to_datetime).timestamp() * 1000))
    ago = datetime.now(UTC) - parse_duration(args.by_duration)
    return Target("duration", int(ago.timestamp() * 1000))


def groups_of(role: str, settings: Settings, spec: PipelinesSpec) -> list[tuple[str, str]]:
    """(group, sink or role) of each consumer group of ``role``."""
    if role == "ingest":
        return [(settings.app_id, "ingest")]
    if role == "aggregations":
        return [(aggregation_app_id(settings), "aggregations")]
    sinks = spec.sinks
    present = {
        "s3": [n for n, c in (("s3", sinks.s3_trigger), ("s3-archive", sinks.s3_archive)) if c is not None],
        "opensearch": ["opensearch"] if sinks.opensearch is not None else [],
        "warehouse": ["warehouse"] if sinks.warehouse is not None else [],
        "eventbridge": ["eventbridge"] if sinks.eventbridge is not None else [],
    }[role]
    if not present:
        raise ConfigError(f"{settings.pipelines}: role '{role}' has no section under 'sinks:'; nothing to replay")
    return [(settings.sink_app_id(s), s) for s in present]


def _role_topics(role: str | None, settings: Settings, spec: PipelinesSpec, entities: list[str]) -> list[str] | None:
    unknown = [e for e in entities if spec.source(e) is None]
    if unknown:
        raise ConfigError(f"--entity: {', '.join(unknown)} not in {settings.pipelines}")
    sources = [s for s in spec.sources if not entities or s.entity in entities]
    if role is None:
        return [settings.clean_topic(s.entity) for s in sources] if entities else None
    if role == "ingest":
        return [t for s in sources for t in s.source_topics(settings.source_topic_prefix)]
    if role == "aggregations":  # the clean topics the aggregations read (their group's only topics)
        read = {a.entity for a in spec.aggregation_specs()}
        sources = [s for s in sources if s.entity in read]
    elif role == "eventbridge" and spec.sinks.eventbridge is not None:
        sources = [s for s in sources if s.entity in spec.sinks.eventbridge.entities]
    return [settings.clean_topic(s.entity) for s in sources]


def _partitions(
    args: argparse.Namespace, role_topics: list[str] | None, counts: dict[str, int]
) -> list[tuple[str, int]]:
    selectors = [parse_topic_selector(t) for t in args.topic]
    if args.reset_state and any(parts is not None for _, parts in selectors) and args.role != "s3":
        raise ConfigError("--reset-state removes whole tables: name --topic without partitions")
    if selectors:
        stray = [t for t, _ in selectors if role_topics is not None and t not in role_topics]
        if stray:
            raise ConfigError(f"--topic: {', '.join(stray)} is not a topic of role {args.role}")
        chosen = selectors
    elif role_topics is not None:
        chosen = [(t, None) for t in role_topics]
    else:
        raise ConfigError("--group: name its topics with --topic (or --entity for clean topics)")
    out = []
    for topic, parts in chosen:
        if topic not in counts:
            raise ConfigError(f"--topic: topic {topic} does not exist")
        bad = sorted(p for p in parts or () if p >= counts[topic])
        if bad:
            raise ConfigError(f"--topic: {topic} has {counts[topic]} partitions; no partition {bad[0]}")
        out += [(topic, p) for p in sorted(parts if parts is not None else range(counts[topic]))]
    return out


def run(args: argparse.Namespace) -> ExitCode:
    from streamproc.runtime.apps import require_bootstrap
    from streamproc.runtime.kafka_config import confluent_config
    from streamproc.runtime.offsets import GroupAdmin

    settings = load_settings(pipelines=args.config, kafka_bootstrap=args.bootstrap)
    bootstrap = require_bootstrap(settings)
    spec = load_pipelines(settings.pipelines)
    if args.reset_state and args.role is None:
        raise ConfigError("--reset-state needs --role: the state to remove is the role's")
    target = _target(args)
    groups = groups_of(args.role, settings, spec) if args.role else [(args.group, "group")]
    role_topics = _role_topics(args.role, settings, spec, args.entity)
    admin = GroupAdmin(bootstrap, confluent_config(settings))
    try:
        infos = [admin.describe(g) for g, _ in groups]
        active = [i for i in infos if i.members or (i.active and not args.workers_stopped)]
        if active:
            for i in active:
                print(refusal(i), file=sys.stderr)
            return ExitCode.FAILURE
        counts = admin.partition_counts()
        tps = _partitions(args, role_topics, counts)
        progress(f"reading the offsets of {len(tps)} partitions in {len(groups)} group(s)")
        report: dict[str, Any] = {"execute": bool(args.execute), "target": target.describe(), "groups": []}
        plans: list[tuple[str, str, list[PlanRow], Any]] = []
        for group, name in groups:
            states = admin.states(group, tps)
            times = admin.offsets_at(states, target.value, progress) if needs_times(target) else None
            rows = plan(states, target, times)
            removal = _state_removal(args, name, settings, spec, tps, set(counts)) if args.reset_state else None
            plans.append((group, name, rows, removal))
        notes = [INGEST_NOTE] if args.role == "ingest" and not args.reset_state else []
        if args.reset_state and args.role in ("opensearch", "warehouse"):
            notes.append(f"{args.role} keeps no state of its own: it rewrites idempotently; nothing else to remove")
        if args.execute:
            for group, _, rows, removal in plans:
                if admin.describe(group).members:  # a worker started since the check
                    print(f"streamproc replay: refused: consumer group {group} became active", file=sys.stderr)
                    return ExitCode.FAILURE
                admin.move(group, rows)
                progress(f"{group}: moved {len(rows)} partitions")
                if removal is not None:
                    _remove(removal, settings, admin)
        for group, name, rows, removal in plans:
            report["groups"].append(
                {
                    "group": group,
                    "role": args.role or "group",
                    "sink": name if name not in ("ingest", "aggregations", "group") else None,
                    "partitions": [r.as_dict() for r in rows],
                    "reset_state": removal.as_dict() if removal is not None else None,
                }
            )
        report["notes"] = notes
        if args.execute:
            audit = AuditRecord("replay", {"what": _what(args, target), "groups": report["groups"]})
            from streamproc.runtime.audit_log import write_audit

            write_audit(settings, audit)
            report["audit"] = {"topic": settings.audit_topic, "id": audit.id}
        print_report(report, plans, args)
        return ExitCode.OK
    finally:
        admin.close()


def _what(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    return {
        "role": args.role,
        "group": args.group,
        "topics": list(args.topic),
        "entities": list(args.entity),
        "target": target.describe(),
        "reset_state": bool(args.reset_state),
    }


def _state_removal(
    args: argparse.Namespace,
    name: str,
    settings: Settings,
    spec: PipelinesSpec,
    tps: list[tuple[str, int]],
    existing: set[str],
) -> Any:
    from streamproc.runtime import replay_state

    topics = list(dict.fromkeys(t for t, _ in tps))
    if name == "ingest":
        return replay_state.ingest_state(settings, topics, existing)
    if name == "aggregations":
        return replay_state.aggregation_state(settings, spec, existing)
    if name in ("s3", "s3-archive"):
        from streamproc.sinks.s3.aws import make_client

        return replay_state.s3_markers(name, spec, tps, make_client("s3", settings.aws))
    return None


def _remove(removal: Any, settings: Settings, admin: Any) -> None:
    from streamproc.runtime import replay_state

    s3 = None
    if removal.objects:
        from streamproc.sinks.s3.aws import make_client

        s3 = make_client("s3", settings.aws)
    replay_state.remove(
        removal, delete_topics=lambda names: admin.delete_topics(names, progress), s3=s3, progress=progress
    )
