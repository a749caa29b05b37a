"""External versions of the OpenSearch sink (``streamproc.sinks.opensearch.version``): the order
of source positions is kept, and unpackable positions name the reason."""

from __future__ import annotations

import random

import pytest

from streamproc.sinks.opensearch.version import MAX_VERSION, Unplannable, version_of


def _strictly_increasing(positions: list[tuple[int, ...]]) -> None:
    assert positions == sorted(positions), "test data must be in tuple order"
    versions = [version_of(p) for p in positions]
    for p, v in zip(positions, versions, strict=True):
        assert 1 <= v <= MAX_VERSION, p
    for (p, a), (q, b) in zip(
        zip(positions, versions, strict=True), zip(positions[1:], versions[1:], strict=True), strict=False
    ):
        assert a < b, (p, q)


def test_versions_of_single_positions_preserve_order() -> None:
    # PostgreSQL LSNs, DMS microseconds, Kafka offsets
    _strictly_increasing([(0,), (1,), (2,), (23_860_000,), (1_700_000_000_000_000,), (MAX_VERSION - 1,)])
    assert version_of((23_860_000,)) == 23_860_001


def test_versions_of_debezium_mongodb_positions_preserve_order() -> None:
    sec = 1_558_965_508
    positions = [
        (0, 0, 0),
        (sec * 1000, 0, 0),
        (sec * 1000, 0, 1),
        (sec * 1000, 0, 4095),
        (sec * 1000, 1, 0),
        (sec * 1000, 31, 0),
        (sec * 1000, 2**19 - 1, 4095),
        ((sec + 1) * 1000, 0, 0),
        ((sec + 1) * 1000, 1, 3),
        ((2**32 - 2) * 1000, 2**19 - 1, 4095),
    ]
    _strictly_increasing(positions)


def test_versions_of_pairs_preserve_order() -> None:
    positions = [
        (0, 0),  # mongo-kafka copy-existing
        (0, 1),
        (0, 1_700_000_000_000_000),  # DMS full-load row (0, µs)
        (0, 2**52 - 1),
        (1, 0),  # DMS (transaction id, record id)
        (1, 2**20 - 1),
        (2, 0),
        (1_700_000_000, 0),  # mongo-kafka (clusterTime seconds, increment)
        (1_700_000_000, 7),
        (1_700_000_001, 0),
        (1_558_965_508_000, 31),  # flattened Debezium MongoDB (ts_ms, ord)
        (1_558_965_509_000, 1),
        (2**42 - 1, 2**20 - 1),
    ]
    _strictly_increasing(positions)


def test_versions_preserve_random_orders_within_each_shape() -> None:
    rng = random.Random(7)
    shapes = [
        lambda: (rng.randrange(MAX_VERSION - 1),),
        lambda: (0, rng.randrange(2**52)),
        lambda: (rng.randrange(1, 2**42), rng.randrange(2**20)),
        lambda: (rng.randrange(2**32 - 1) * 1000, rng.randrange(2**19), rng.randrange(2**12)),
        lambda: (rng.randrange(1_700_000_000, 1_700_000_003) * 1000, rng.randrange(3), rng.randrange(3)),
    ]
    for make in shapes:
        sample = sorted({make() for _ in range(2000)})
        _strictly_increasing(sample)


def test_a_long_transaction_saturates_its_order_without_reordering_anything() -> None:
    """Changes 4095 and later of one Debezium MongoDB transaction share a version (applied in
    partition order with external_gte); the next clusterTime increment still sorts above them."""
    t = 1_558_965_508_000
    in_order = [(t, 1, 4094), (t, 1, 4095), (t, 1, 5000), (t, 1, 2**40), (t, 2, 0)]
    versions = [version_of(p) for p in in_order]
    assert versions == sorted(versions)
    assert versions[1] == versions[2] == versions[3] < versions[4]
    assert versions[0] < versions[1]


def test_equal_positions_give_equal_versions() -> None:
    assert version_of((1_558_965_508_000, 31, 2)) == version_of([1_558_965_508_000, 31, 2])


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        ((), "empty"),
        ((-1,), "negative"),
        ((MAX_VERSION,), "largest external version"),
        ((0, 2**52), "52 bits"),
        ((2**42, 0), "42 bits"),
        ((5, 2**20), "20 bits"),
        ((1_558_965_508_123, 1, 0), "not whole seconds"),
        ((1_558_965_508_000, 2**19, 0), "ord"),
        ((2**32 * 1000, 0, 0), "seconds"),
        (((2**32 - 1) * 1000, 2**19 - 1, 4095), "largest external version"),
        ((1, 2, 3, 4), "4 parts"),
    ],
)
def test_unpackable_positions_name_the_reason(position: tuple[int, ...], reason: str) -> None:
    with pytest.raises(Unplannable, match=reason):
        version_of(position)
