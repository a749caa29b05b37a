"""Value-free checks and messages for the ``STREAMPROC_*`` environment (used by
:mod:`streamproc.config.settings`): every problem names the variable, never its value, because a
wrong value may be a misplaced secret.

* :func:`http_urls` — whether a text is one http(s) URL, or a comma-separated list of them;
* :func:`not_utf8` — the variables whose value is not UTF-8 (Python hands such bytes over as lone
  surrogates, which fail later, far from their cause, when encoded for a client or a log line);
* :func:`validation_problems` and :func:`settings_error_problem` — pydantic's errors as
  ``STREAMPROC_NAME: problem`` without the input value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError

__all__ = ["PREFIX", "http_urls", "endpoint_url", "not_utf8", "validation_problems", "settings_error_problem"]

PREFIX = "STREAMPROC_"


def http_urls(text: str) -> bool:
    """Whether ``text`` is an http(s) URL with a host (and a valid port), or a comma-separated list."""
    for url in text.split(","):
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
    return True


def endpoint_url(value: str | None) -> str | None:
    """A single http(s) endpoint URL, or ``None`` for unset/empty; ``ValueError`` otherwise."""
    if not value:
        return None
    if "," in value or not http_urls(value):
        raise ValueError("not an http(s) URL")
    return value


def not_utf8(data: Mapping[str, Any], binary: frozenset[tuple[str, ...]] = frozenset()) -> list[str]:
    """The variable names of the string values in ``data`` (nested mappings are nested
    variables) that are not valid UTF-8; paths in ``binary`` may hold any bytes."""
    return [PREFIX + "__".join(path).upper() for path in _undecodable(data, ()) if path not in binary]


def _undecodable(data: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        here = (*path, str(key))
        if isinstance(value, Mapping):
            yield from _undecodable(value, here)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield here


def validation_problems(exc: ValidationError) -> list[str]:
    """``STREAMPROC_NAME: problem`` for every error of ``exc``; the input is never quoted."""
    out = []
    for err in exc.errors():
        problem = err["msg"].removeprefix("Value error, ")
        loc = "__".join(str(p).upper() for p in err["loc"])
        out.append(f"{PREFIX}{loc}: {problem}" if loc else problem)
    return out


def settings_error_problem(exc: SettingsError) -> str:
    """pydantic-settings' one error, a nested setting given as one variable holding malformed
    JSON, as ``STREAMPROC_NAME: problem``."""
    field = re.search(r'field "([a-z0-9_]+)"', str(exc))
    name = f"{PREFIX}{field.group(1).upper()}" if field else f"a {PREFIX}* variable"
    return f"{name}: not a valid JSON object (set the nested variables {name}__… instead, or fix the JSON)"
