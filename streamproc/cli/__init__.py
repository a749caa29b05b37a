"""The ``streamproc`` command: one module per sub-command, the parser in :mod:`.main`."""

from streamproc.cli.main import main

__all__ = ["main"]
