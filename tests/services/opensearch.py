"""Fixture for the OpenSearch stand-in (a fake; see :mod:`streamproc.dev.opensearch_fake`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamproc.dev.opensearch_fake import OpenSearchFake

__all__ = ["opensearch_fake"]


@pytest.fixture
def opensearch_fake() -> Iterator[OpenSearchFake]:
    """A fresh, running fake OpenSearch; stopped after the test."""
    fake = OpenSearchFake(port=0).start()
    try:
        yield fake
    finally:
        fake.stop()
