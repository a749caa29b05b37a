"""The module ``faust -A streamproc.app worker`` loads: ``app`` is the ingest app, built on first
access from the settings (nothing is read at import time)."""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from streamproc.runtime.ingest import default_app

        return default_app()
    raise AttributeError(name)
