"""Which configured source an event is routed to, from its topic and namespace."""

from __future__ import annotations

from streamproc.config.pipelines import SourceSpec
from streamproc.pipeline.routing import SourceRouter

SOURCES = [
    {"entity": "by_topic", "topic": "cdc.shared"},
    {"entity": "by_namespace", "namespace": "db.orders"},
    {"entity": "by_both", "topic": "cdc.shared", "namespace": "db.users"},
    {"entity": "other_both", "topic": "cdc.other", "namespace": "db.orders"},
    {"entity": "ns_only", "namespace": "db.items"},
]


def test_match_precedence():
    router = SourceRouter(SourceSpec.model_validate(s) for s in SOURCES)

    def m(topic, ns):
        found = router.match(topic, ns)
        return found.entity if found else None

    assert m("cdc.shared", "db.users") == "by_both"  # topic and namespace
    assert m("cdc.other", "db.orders") == "other_both"  # both beats namespace-only
    assert m("cdc.shared", "db.orders") == "by_namespace"  # namespace beats topic-only
    assert m("cdc.anything", "db.orders") == "by_namespace"
    assert m("cdc.shared", "db.unknown") == "by_topic"  # topic-only as the fallback
    assert m("cdc.other", "db.unknown") is None  # both given: the namespace must agree
    assert m("cdc.shared", None) == "by_topic"
    assert m("cdc.other", None) == "other_both"  # the only source naming that topic
    assert m("cdc.nothing", None) is None


def test_an_unknown_namespace_on_a_topic_two_sources_share_matches_neither():
    router = SourceRouter(
        SourceSpec.model_validate(s)
        for s in (
            {"entity": "a", "topic": "cdc.mixed", "namespace": "db.a"},
            {"entity": "b", "topic": "cdc.mixed", "namespace": "db.b"},
        )
    )
    assert router.match("cdc.mixed", "db.b").entity == "b"
    assert router.match("cdc.mixed", "db.c") is None
    assert router.match("cdc.mixed", None) is None
