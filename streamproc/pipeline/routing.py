"""Which source an event belongs to, from its topic and (once decoded) its namespace.

Precedence, most specific first:

1. a source whose ``namespace`` *and* ``topic`` both equal the event's;
2. a source with only a ``namespace``, equal to the event's;
3. a source with only a ``topic``, equal to the event's;
4. when the namespace is not known yet (``None``): the one source listing that topic.

A source giving both ``topic`` and ``namespace`` never matches an event whose (known)
namespace differs. The pipelines file is validated so that no two sources share the same
``topic``/``namespace`` pair; the router relies on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.config.pipelines import SourceSpec

__all__ = ["SourceRouter"]


class SourceRouter:
    """Index of the configured sources for :meth:`match`; build once per pipelines file."""

    __slots__ = ("_by_pair", "_by_namespace", "_by_topic", "_by_any_topic")

    def __init__(self, sources: Iterable[SourceSpec]) -> None:
        self._by_pair: dict[tuple[str, str], SourceSpec] = {}
        self._by_namespace: dict[str, SourceSpec] = {}
        self._by_topic: dict[str, SourceSpec] = {}
        self._by_any_topic: dict[str, list[SourceSpec]] = {}
        for src in sources:
            if src.topic is not None and src.namespace is not None:
                self._by_pair[(src.topic, src.namespace)] = src
            elif src.namespace is not None:
                self._by_namespace[src.namespace] = src
            elif src.topic is not None:
                self._by_topic[src.topic] = src
            if src.topic is not None:
                self._by_any_topic.setdefault(src.topic, []).append(src)

    def match(self, topic: str, namespace: str | None) -> SourceSpec | None:
        """The source for an event (precedence in the module docstring), or ``None``."""
        if namespace is not None:
            found = self._by_pair.get((topic, namespace)) or self._by_namespace.get(namespace)
            if found is not None:
                return found
            return self._by_topic.get(topic)
        found = self._by_topic.get(topic)
        if found is not None:
            return found
        candidates = self._by_any_topic.get(topic, ())
        return candidates[0] if len(candidates) == 1 else None
