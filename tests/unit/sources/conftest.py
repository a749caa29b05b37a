"""Shared fixtures for the decoder tests: the CDC corpus and decoders.

Corpus location: ``$STREAMPROC_CORPUS`` if set, else ``<repo root>/../shared/cdc-corpus``.
Tests that need it are skipped (with the path in the reason) when it is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamproc.sources import Decoder

from ._support import corpus_dir, corpus_names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_name" in metafunc.fixturenames:
        names = corpus_names()
        if names:
            metafunc.parametrize("corpus_name", names)
        else:
            reason = f"CDC corpus not found at {corpus_dir()} (set STREAMPROC_CORPUS)"
            metafunc.parametrize("corpus_name", [pytest.param(None, marks=pytest.mark.skip(reason=reason))])


@pytest.fixture
def corpus() -> Callable[[str], dict[str, Any]]:
    """Load one corpus record ``{"topic", "key", "value"}`` by name (a fresh copy per call)."""
    directory = corpus_dir()
    if not directory.is_dir():
        pytest.skip(f"CDC corpus not found at {directory} (set STREAMPROC_CORPUS)")

    def load(name: str) -> dict[str, Any]:
        path = directory / f"{name}.json"
        if not path.is_file():
            pytest.skip(f"corpus file {path} not found")
        return json.loads(path.read_text())

    return load


@pytest.fixture
def decoder() -> Decoder:
    return Decoder()
