"""Pure bulk requests of the OpenSearch sink: action lines and the outcome of each item.

:func:`action_lines` writes the NDJSON of one planned action (``version_type=external_gte``: see ``version.py``; the
sink cuts them into ``_bulk`` requests of bounded records and bytes with the runner's
:func:`~streamproc.sinks.runner.chunks`), and :func:`item_outcome` classifies each item of the
answer (done, stale, fail, throttled, retry, fatal). :func:`safe_reason` reduces an OpenSearch
error to type, field and mapping type, because its reason text quotes field values. No I/O here
(``sink.py`` sends the requests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from streamproc.jsonutil import dumps
from streamproc.sinks.opensearch.plan import OsAction, source_document

if TYPE_CHECKING:
    from streamproc.config.sink_opensearch import OpenSearchSpec

__all__ = [
    "action_lines",
    "Outcome",
    "item_outcome",
    "safe_reason",
]

# --------------------------------------------------------------------------------- bulk lines


def action_lines(spec: OpenSearchSpec, action: OsAction, doc: Mapping[str, Any] | None) -> bytes:
    """The NDJSON lines of one index or delete action (each ending in ``\\n``)."""
    meta = {
        action.action: {
            "_index": action.index,
            "_id": action.id,
            "version": action.version,
            "version_type": "external_gte",
        }
    }
    if action.action == "delete":
        return dumps(meta) + b"\n"
    if action.action != "index" or doc is None:
        raise ValueError(f"no bulk lines for a {action.action} action")
    return dumps(meta) + b"\n" + dumps(source_document(spec, doc)) + b"\n"


# --------------------------------------------------------------------------------- bulk results

_MAPPING_ERRORS = frozenset(
    {
        "mapper_parsing_exception",
        "illegal_argument_exception",
        "strict_dynamic_mapping_exception",
        "document_parsing_exception",
        "parse_exception",
        "json_parse_exception",
        "x_content_parse_exception",
        "mapper_exception",
        "invalid_type_name_exception",
        "invalid_index_name_exception",
    }
)
_NAMED = (
    # not "failed to parse date field [<the value>] with format …"
    re.compile(r"(?<!date )(?:field|mapper|introduction of|mapping for) \[([^\]\[]{1,200})\]"),
    re.compile(r"^Field \[([^\]\[]{1,200})\] is a metadata field"),
)
_OF_TYPE = re.compile(r"of type \[([a-z_]{1,40})\]")
#: Where OpenSearch's reason starts quoting the document (its id, then a preview of the value).
_QUOTES = re.compile(r" in document with id |Preview of field's value|[\'\"]")
_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,79}")


def _type(value: Any, default: str) -> str:
    text = value if isinstance(value, str) else ""
    return text if _TYPE.fullmatch(text) else default


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one bulk item ended: ``done`` (written, or refused as stale/duplicate, or nothing to
    delete), ``fail`` (permanent, to the DLQ), ``throttled``, ``retry`` or ``fatal``."""

    kind: Literal["done", "stale", "fail", "throttled", "retry", "fatal"]
    reason: str = ""


def safe_reason(error: Any) -> str:
    """An OpenSearch error object reduced to type, field and mapping type — OpenSearch's reason
    text quotes field values ("Preview of field's value: …"), so it is never passed on."""
    if not isinstance(error, dict):
        return "unknown error"
    etype = _type(error.get("type"), "unknown_error")
    text = _QUOTES.split(str(error.get("reason") or ""), maxsplit=1)[0]  # names only, before any quote
    parts = [etype]
    for rx in _NAMED:
        m = rx.search(text)
        if m:
            parts.append(f"field {m.group(1)}")
            break
    m = _OF_TYPE.search(text)
    if m:
        parts.append(f"mapped as {m.group(1)}")
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("type"):
        parts.append(f"caused by {_type(cause['type'], 'unknown_error')}")
    return ", ".join(parts)


def item_outcome(op_type: str, item: Mapping[str, Any]) -> Outcome:
    """Classify one bulk response item (``{"status": …, "result"?: …, "error"?: {…}}``)."""
    status = item.get("status")
    status = status if isinstance(status, int) else 500
    error = item.get("error")
    etype = error.get("type") if isinstance(error, dict) else None
    if 200 <= status < 300:
        return Outcome("done")
    if status == 409 or etype == "version_conflict_engine_exception":
        return Outcome("stale")
    if status == 404 and op_type == "delete":
        return Outcome("done")
    reason = safe_reason(error)
    if status == 429:
        return Outcome("throttled", reason)
    if status >= 500:
        return Outcome("retry", reason)
    if status in (401, 403) and etype != "cluster_block_exception":
        return Outcome("fatal", f"OpenSearch refused the write ({status} {reason}); check the user's index permissions")
    if etype == "cluster_block_exception":
        return Outcome("retry", reason)
    if (
        etype == "illegal_argument_exception"
        and isinstance(error, dict)
        and "no write index" in str(error.get("reason", ""))
    ):
        return Outcome("fatal", "the rollover alias has no write index; run `streamproc opensearch init`")
    if status == 404 and etype == "index_not_found_exception":
        return Outcome(
            "fatal",
            "index missing and not auto-created (action.auto_create_index is off?); "
            "run `streamproc opensearch init` or create it",
        )
    if etype in _MAPPING_ERRORS or 400 <= status < 500:
        return Outcome("fail", f"OpenSearch rejected the document: {reason}")
    return Outcome("retry", reason)
