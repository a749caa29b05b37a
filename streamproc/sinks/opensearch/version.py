"""Pure external versions of the OpenSearch sink, and :class:`Unplannable`.

Every index or delete action carries ``version_type=external_gte`` with :func:`version_of` the
record's source position, so OpenSearch itself refuses a stale write with 409, which counts as
done. An equal version is applied: ingest drops true duplicates, so two records of one key with
equal positions are successive changes of one source transaction, which arrive in partition (=
commit) order — the later one must win. A redelivered copy rewrites the same content.
:class:`Unplannable` is the error every planning step raises (here, and for index names and ids in
``plan.py``) when a record cannot become an action; the record goes to the DLQ. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Unplannable", "MAX_VERSION", "version_of"]

#: The largest external version OpenSearch accepts (a Java long).
MAX_VERSION = 2**63 - 1


class Unplannable(ValueError):
    """A record the sink cannot turn into an action; ``reason`` names fields and limits, never values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------- versions

_B52 = 1 << 52
_TXN_MAX = (1 << 12) - 1  # a larger transaction order saturates (see version_of)


def version_of(position: Sequence[int]) -> int:
    """The external version of a source position: ``1 <= v <= 2**63 - 1`` and, for positions of
    one shape, ``p < q  ⇒  version_of(p) < version_of(q)`` (strictly order-preserving), except that
    a Debezium MongoDB transaction order beyond 4095 saturates (``p <= q  ⇒  v(p) <= v(q)``: such
    changes of one transaction share a version and apply in partition order, ``external_gte``).

    ===================================  ==========================================================
    shape                                version
    ===================================  ==========================================================
    ``(x,)`` lsn, ts, µs or offset       ``x + 1``                         (x < 2**63 - 1)
    ``(0, b)`` snapshot before changes   ``b + 1``                         (b < 2**52)
    ``(a, b)``, ``a >= 1``               ``2**52 + a·2**20 + b``           (a < 2**42, b < 2**20)
    ``(ts_ms, ord, txn)`` Debezium Mongo ``(ts_ms/1000)·2**31 + ord·2**12 + min(txn, 4095) + 1``
                                         (ts_ms whole seconds < 2**32 s, ord < 2**19)
    ===================================  ==========================================================

    Pairs cover mongo-kafka ``(clusterTime seconds, increment)`` and its ``(0, 0)`` copy-existing
    events, flattened Debezium MongoDB ``(ts_ms, ord)``, and AWS DMS ``(transaction id, record id)``
    with full-load rows ``(0, µs)`` — which all sort below every pair with ``a >= 1``, as they do
    as tuples. Debezium MongoDB's ``source.ts_ms`` is the BSON cluster time (whole seconds × 1000).
    Positions of different lengths are not comparable (they never describe one key).
    Raises :class:`Unplannable` (the record goes to the DLQ) for an empty position, a negative
    component, a component over its bit budget, or another shape.
    """
    p = tuple(position)
    if any(type(x) is not int for x in p):
        raise Unplannable("position holds a non-integer")
    if any(x < 0 for x in p):
        raise Unplannable("position holds a negative component")
    n = len(p)
    if n == 0:
        raise Unplannable("position is empty: no source order to derive an external version from")
    if n == 1:
        v = p[0] + 1
    elif n == 2:
        a, b = p
        if a == 0:
            _budget(b, 52, "position[1] of a (0, b) position")
            v = b + 1
        else:
            _budget(a, 42, "position[0] of a pair")
            _budget(b, 20, "position[1] of a pair")
            v = _B52 + (a << 20) + b
    elif n == 3:
        ts_ms, ord_, txn = p
        seconds, millis = divmod(ts_ms, 1000)
        if millis:
            raise Unplannable("position[0] of a 3-part position is not whole seconds (Debezium MongoDB cluster time)")
        _budget(seconds, 32, "position[0] (seconds) of a 3-part position")
        _budget(ord_, 19, "position[1] (ord) of a 3-part position")
        v = (seconds << 31) + (ord_ << 12) + min(txn, _TXN_MAX) + 1
    else:
        raise Unplannable(f"position has {n} parts; known shapes have 1, 2 or 3")
    if v > MAX_VERSION:
        raise Unplannable("position exceeds the largest external version (2**63 - 1)")
    return v


def _budget(value: int, bits: int, what: str) -> None:
    if value >= 1 << bits:
        raise Unplannable(f"{what} does not fit in {bits} bits")
