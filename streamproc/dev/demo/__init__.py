"""``streamproc demo``: a generated change stream through every role of one worker, on the
embedded broker and local services, ending in a report (:mod:`.run`). Nothing here runs in
production."""

from __future__ import annotations

__all__: list[str] = []
