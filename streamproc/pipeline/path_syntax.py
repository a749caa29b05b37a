"""Nested field paths as written in ``config/pipelines.yaml``, shared by validation,
transformation and redaction.

Path syntax
-----------
* ``address.city`` — dotted segments, one per nesting level.
* Arrays are traversed implicitly: ``phones.number`` reaches ``number`` in every element of
  the ``phones`` list (and of lists nested in lists). ``phones[].number`` and
  ``phones[*].number`` say the same thing explicitly. A trailing marker (``tags[]``) only
  matters to validation, where it checks each element instead of the list itself.
* ``*`` as a whole segment matches any key at that level.
* A numeric segment indexes a list (``phones.0.number``) and names a key in an object.

Documents are edited along these paths by :mod:`streamproc.pipeline.doc_edits`, the dotted
keys of partial updates by :mod:`streamproc.pipeline.update_keys`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["WILDCARD", "REMOVE", "Segments", "FieldPath", "parse_path"]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


WILDCARD: Any = _Marker("WILDCARD")
"""A path segment matching any key."""

REMOVE: Any = _Marker("REMOVE")
"""Returned by an edit function to delete the value it was given."""

Segments = tuple[Any, ...]
"""A parsed path: key names (``str``) and :data:`WILDCARD`."""


class FieldPath(NamedTuple):
    text: str
    segments: Segments
    each: int  # number of trailing array markers (validation checks elements, not the list)


def parse_path(text: str) -> FieldPath:
    """Parse a rule path; raise ``ValueError`` naming the problem."""
    if not isinstance(text, str) or not text:
        raise ValueError("path must be a non-empty string")
    segments: list[Any] = []
    each = 0
    parts = text.split(".")
    for n, part in enumerate(parts):
        markers = 0
        while True:
            if part.endswith("[]"):
                part = part[:-2]
            elif part.endswith("[*]"):
                part = part[:-3]
            else:
                break
            markers += 1
        if not part:
            raise ValueError("path has an empty segment")
        if "[" in part or "]" in part:
            raise ValueError("array markers must be written '[]' or '[*]' at the end of a segment")
        if part.strip() != part:
            raise ValueError("path segments must not start or end with whitespace")
        segments.append(WILDCARD if part == "*" else part)
        if n == len(parts) - 1:
            each = markers
    return FieldPath(text, tuple(segments), each)
