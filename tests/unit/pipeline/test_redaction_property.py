"""Property (issue 10 §2): no configured PII value survives in any output line — clean event key,
value and headers, DLQ reason, drop reason, the state written — whatever the nesting, arrays,
scalars where objects are expected, literal dotted field names, dotted update paths (with array
positions) and before/after documents.

Canaries are placed at random *spellings* of the configured paths (hypothesis draws them); the
whole :class:`Processor` runs on Debezium MongoDB records built from them, so decoding, merge
and state are part of the check.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import parse_pipelines
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, Processor, RawMessage
from streamproc.sources import Decoder

KEY = b"property-test-redaction-key-0123456789ab"
RULES = [
    ("email", "PARTIAL_MASK"),
    ("contacts.email", "PARTIAL_MASK"),
    ("phones.number", "FULL_MASK"),
    ("ssn", "REMOVE"),
    ("profile.secret.value", "HASH"),
    ("cards.*.pan", "TOKENIZE"),
]
CONFIG = (
    "version: 1\ndefaults: {key: [_id]}\nsources:\n  - entity: people\n    topic: cdc.app.people\n"
    "    namespace: app.people\n    redact:\n" + "".join(f"      - {{path: {p}, mode: {m}}}\n" for p, m in RULES)
)
PATHS = [tuple(p.split(".")) for p, _ in RULES]
NOISE_KEYS = st.sampled_from(["name", "status", "note", "city", "n", "tags", "0", "meta"])
NOISE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["a", "bb", "ok"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(NOISE_KEYS, inner, max_size=2),
    max_leaves=4,
)


class Canaries:
    """Distinct PII values: e-mail shaped or not, never a substring of a mask, hash or token."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def new(self, draw: Any) -> str:
        n = len(self.issued)
        value = draw(st.sampled_from([f"piiQ{n:03d}canaryZ@mail.example.org", f"PIIX{n:03d}-CANARY-secret"]))
        self.issued.append(value)
        return value


@st.composite
def leaf(draw: Any, canaries: Canaries) -> Any:
    kind = draw(st.sampled_from(["scalar", "list", "object", "nested-list"]))
    if kind == "scalar":
        return canaries.new(draw)
    if kind == "list":
        return [canaries.new(draw), draw(NOISE), canaries.new(draw)]
    if kind == "object":
        return {"inner": canaries.new(draw), "more": [canaries.new(draw)]}
    return [[canaries.new(draw)], None]


@st.composite
def member(draw: Any, segs: tuple[str, ...], canaries: Canaries) -> tuple[str, Any]:
    """One object member (literal key, value) holding canaries at a spelling of ``segs``."""
    seg = segs[0] if segs[0] != "*" else draw(st.sampled_from(["visa", "amex", "0"]))
    if len(segs) == 1:
        return seg, draw(leaf(canaries))
    how = draw(st.sampled_from(["nest", "array", "dotted", "dotted-index", "scalar", "scalar-array"]))
    if how == "scalar":  # a scalar where the path expects an object
        return seg, canaries.new(draw)
    if how == "scalar-array":
        return seg, [canaries.new(draw), draw(NOISE)]
    key, value = draw(member(segs[1:], canaries))
    if how == "dotted":
        return f"{seg}.{key}", value
    if how == "dotted-index":
        return f"{seg}.{draw(st.integers(0, 3))}.{key}", value
    if how == "nest":
        return seg, {key: value, **draw(st.dictionaries(NOISE_KEYS, NOISE, max_size=2))}
    others = draw(st.lists(NOISE, max_size=2))
    return seg, [*others, {key: value}, *draw(st.lists(st.just(canaries.new(draw)), max_size=1))]


@st.composite
def document(draw: Any, canaries: Canaries) -> dict[str, Any]:
    doc: dict[str, Any] = dict(draw(st.dictionaries(NOISE_KEYS, NOISE, max_size=3)))
    for segs in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=5)):
        key, value = draw(member(segs, canaries))
        doc[key] = value
    doc["_id"] = "p1"
    return doc


@st.composite
def update_set(draw: Any, canaries: Canaries) -> dict[str, Any]:
    """updatedFields: dotted keys at any depth of a configured path, array positions included."""
    out: dict[str, Any] = {}
    for segs in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4)):
        key, value = draw(member(segs, canaries))
        cut = draw(st.integers(0, 2))
        if cut and "." not in key and isinstance(value, dict) and value:
            inner = next(iter(value))
            key, value = f"{key}.{inner}", value[inner]
        out[key] = value
    return out


@st.composite
def scenario(draw: Any) -> tuple[list[str], list[RawMessage]]:
    canaries = Canaries()
    msgs: list[RawMessage] = []
    ord_ = 0

    def record(op: str, before: Any = None, after: Any = None, set_: Any = None) -> RawMessage:
        nonlocal ord_
        ord_ += 1
        value: dict[str, Any] = {
            "op": op,
            "before": json.dumps(before) if before is not None else None,
            "after": json.dumps(after) if after is not None else None,
            "source": {
                "connector": "mongodb",
                "ts_ms": 1_700_000_000_000,
                "db": "app",
                "collection": "people",
                "ord": ord_,
            },
        }
        if set_ is not None:
            value["updateDescription"] = {
                "updatedFields": json.dumps(set_),
                "removedFields": None,
                "truncatedArrays": None,
            }
        return RawMessage(
            "cdc.app.people", json.dumps({"id": '"p1"'}).encode(), json.dumps(value).encode(), [], 0, ord_
        )

    for step in draw(
        st.lists(st.sampled_from(["insert", "update", "update+before", "replace", "delete"]), min_size=1, max_size=4)
    ):
        if step == "insert":
            msgs.append(record("c", after=draw(document(canaries))))
        elif step == "replace":
            msgs.append(record("r", before=draw(document(canaries)), after=draw(document(canaries))))
        elif step == "delete":
            msgs.append(record("d", before=draw(document(canaries))))
        else:
            before = draw(document(canaries)) if step == "update+before" else None
            msgs.append(record("u", before=before, set_=draw(update_set(canaries))))
    return canaries.issued, msgs


def processor() -> Processor:
    spec = parse_pipelines(CONFIG, "property.yaml")
    return Processor(spec, Decoder(key_fields={"cdc.app.people": ["_id"]}), KEY, "clean")


PROCESSOR = processor()


def output_lines(outcome: Any) -> list[bytes]:
    if type(outcome) is Emit:
        return [outcome.key, outcome.value, *(k.encode() + b"=" + v for k, v in outcome.headers)]
    if type(outcome) is DeadLetter:
        return [outcome.reason.encode(), outcome.stage.encode()]
    assert type(outcome) is Dropped
    return [str(outcome).encode()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_no_configured_pii_value_survives_in_any_output(case: tuple[list[str], list[RawMessage]]) -> None:
    canaries, msgs = case
    state = DictState()
    emitted = 0
    for msg in msgs:
        outcome = PROCESSOR.process(msg, state)
        assert type(outcome) is not DeadLetter or outcome.error_class != "internal", outcome
        emitted += type(outcome) is Emit
        for line in output_lines(outcome) + list(state.values()):
            text = line.decode("utf-8", "replace")
            assert [c for c in canaries if c in text] == [], text[:300]
    assert canaries and msgs


def test_the_generator_reaches_every_spelling() -> None:
    """The property is not vacuous: drawn cases emit events that held canaries before redaction."""
    seen: set[str] = set()

    markers = {
        "dotted key": "contacts.",
        "scalar array": '\\"phones\\": [\\"',
        "indexed key": "contacts.0.",
        "wildcard": "cards.",
    }

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(scenario())
    def collect(case: tuple[list[str], list[RawMessage]]) -> None:
        _, msgs = case
        for msg in msgs:
            body = msg.value.decode()
            seen.update(name for name, marker in markers.items() if marker in body)
            if type(PROCESSOR.process(msg, DictState())) is Emit:
                seen.add("emitted")

    collect()
    assert seen == {"emitted", *markers}
