"""The module ``faust -A streamproc.app worker`` loads: ``app`` is the ingest app, built on first
access from the settings (nothing is read at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.runtime.apps import StreamprocApp

    app: StreamprocApp

__all__ = ["app"]


def __getattr__(name: str) -> StreamprocApp:
    if name == "app":
        from streamproc.runtime.ingest import default_app

        return default_app()
    raise AttributeError(name)
