"""Fuzz target: the config loader (``streamproc.config.loader``) and the compilation of what it
accepts (``streamproc.pipeline.compiled``, through ``Processor``'s constructor, as a worker starts).

Input: a pipelines file. Valid UTF-8 goes to :func:`~streamproc.config.loader.parse_pipelines`;
other bytes are written to a file and read by :func:`~streamproc.config.loader.load_pipelines`
(the non-UTF-8 path). Only ``ConfigError`` (exit 2 with a message) may escape; an accepted file
must compile into a processor and dump to the same JSON twice.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from typing import Any

from fuzz.harness import twice
from fuzz.mutator import yaml_mutator
from streamproc.config.loader import load_pipelines, parse_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.pipeline.processor import Processor
from streamproc.sources import Decoder

__all__ = ["test_one_input", "custom_mutator"]

custom_mutator = yaml_mutator

_KEY = b"fuzz-redaction-key-0123456789abcdef"
_DIR = tempfile.mkdtemp(prefix="streamproc-fuzz-config-")
_PATH = os.path.join(_DIR, "pipelines.yaml")


@atexit.register
def _cleanup() -> None:
    if os.path.exists(_PATH):
        os.unlink(_PATH)
    os.rmdir(_DIR)


def _load(data: bytes) -> PipelinesSpec:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        with open(_PATH, "wb") as f:
            f.write(data)
        return load_pipelines(_PATH)
    return parse_pipelines(text, "pipelines.yaml")


def _compile(data: bytes) -> PipelinesSpec:
    spec = _load(data)
    Processor(spec, Decoder(), _KEY, "streamproc")
    return spec


def _render(spec: Any) -> str:
    return str(spec.model_dump_json())


def test_one_input(data: bytes) -> None:
    twice(lambda: _compile(data), _render)
