"""What an exception can print: its str, repr and args, and every exception of its chain as a
traceback walks it (``__cause__``, else ``__context__`` unless suppressed), each as a traceback
formats it — the surface a canary must never reach. (The frames' source lines are left out: they
show the test's own code, not data.)"""

from __future__ import annotations

import traceback

__all__ = ["printable", "chain"]


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions a traceback of it prints, outermost first."""
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and all(e is not seen for seen in out):
        out.append(e)
        e = e.__cause__ if e.__cause__ is not None else (None if e.__suppress_context__ else e.__context__)
    return out


def printable(exc: BaseException) -> str:
    """Everything of ``exc`` a log line or a traceback could show."""
    parts = []
    for e in chain(exc):
        parts += [str(e), repr(e), repr(e.args), *traceback.format_exception_only(e)]
    return "\n".join(parts)
