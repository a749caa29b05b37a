"""Body of ``streamproc decode``: dump lines in, one JSON result line per record out.

Output lines (strict JSON, in input order; blank input lines produce nothing):

* ``{"status": "ok", "format", "op", "namespace", "key", "before", "after", "update",
  "position", "ts_ms"}`` — :meth:`ChangeEvent.to_json`
* ``{"status": "skip", "format", "reason"}`` — :meth:`Skip.to_json`
* ``{"status": "error", "error_class": "poison", "reason": "…"}`` — a message no decoder
  accepts, or a malformed input line (``reason`` starts with ``input line N:``)

Returns the exit code: 0 once the input was read (per-record errors are output lines, not an
exit status). An unknown ``fmt`` raises :class:`~streamproc.errors.ConfigError` before any
output (the CLI maps it to exit code 2); :func:`check_format` is the same check for argument
parsing. A schema-registry outage (``ServiceUnavailable``) is not a per-record error and
propagates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TextIO

from streamproc.cli.dump import DumpError, open_input, read_dump, to_json_line
from streamproc.config.settings import load_settings
from streamproc.errors import DecodeError
from streamproc.model import FORMATS
from streamproc.sources import Decoder, check_format

__all__ = ["add_arguments", "run", "run_decode", "check_format"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", default=None, help="file (default: stdin)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="fix the wire format")


def run(args: argparse.Namespace) -> int:
    """Decode ``args.input`` to stdout, with the schema registry of the settings when one is set."""
    from streamproc.runtime.processor import schema_registry

    registry = schema_registry(load_settings())  # Avro records need the registry
    with open_input(args.input) as stream:
        return run_decode(stream, sys.stdout, args.format, Decoder(schema_registry=registry))


def _error(reason: str) -> dict[str, str]:
    return {"status": "error", "error_class": DecodeError.error_class, "reason": reason}


def run_decode(lines: Iterable[str], out: TextIO, fmt: str | None, decoder: Decoder | None = None) -> int:
    """Decode every dump line of ``lines`` and write one result line per record to ``out``."""
    if fmt is not None:
        check_format(fmt)
    if decoder is None:
        decoder = Decoder()
    for item in read_dump(lines):
        if isinstance(item, DumpError):
            result = _error(item.reason)
        else:
            try:
                if item.raw:
                    decoded = decoder.decode(item.topic, item.key, item.value, fmt=fmt, offset=item.offset)
                else:
                    decoded = decoder.decode_json(item.topic, item.key, item.value, fmt=fmt, offset=item.offset)
                result = decoded.to_json()
            except DecodeError as exc:
                result = _error(str(exc))
        out.write(to_json_line(result))
    return 0
