"""The fetch watch's decision (pure): a partition is sought back once its stalled sample repeats,
and a sample is acted on once (runtime/fetch_watch.py)."""

from __future__ import annotations

from faust.types import TP

from streamproc.runtime.fetch_watch import MISSING, StallWatch, stalled

A, B = TP("t", 0), TP("t", 1)


def test_stalled_means_never_sought_or_a_position_past_the_next_offset() -> None:
    assert stalled(MISSING, 0)
    assert stalled(MISSING, None)
    assert stalled(10, 11)
    assert not stalled(10, 10)  # caught up: the fetch position is the next offset to deliver
    assert not stalled(10, 9)
    assert not stalled(None, 50)  # sought, next offset not known yet: never acted on
    assert not stalled(10, None)


def test_a_stalled_sample_is_acted_on_when_it_repeats_and_only_once() -> None:
    w = StallWatch()
    assert w.observe([(A, 5, 9), (B, 3, 3)]) == []  # first sight: the drop may have a seek coming
    assert w.observe([(A, 5, 9), (B, 3, 3)]) == [(A, 5, 9)]
    assert w.observe([(A, 5, 9), (B, 3, 3)]) == []  # the same sample after the seek: a real gap
    assert w.observe([(A, 9, 9)]) == []  # delivered up to the position: healthy, forgotten
    assert w.observe([(A, 9, 12)]) == []
    assert w.observe([(A, 9, 12)]) == [(A, 9, 12)]  # a new stall is acted on again


def test_a_changing_sample_is_progress_not_a_stall() -> None:
    w = StallWatch()
    for nxt in range(10):
        assert w.observe([(A, nxt, nxt + 5)]) == []


def test_a_partition_never_sought_is_acted_on_after_two_samples() -> None:
    w = StallWatch()
    assert w.observe([(A, MISSING, 40)]) == []
    assert w.observe([(A, MISSING, 40)]) == [(A, MISSING, 40)]


def test_a_partition_not_sampled_is_forgotten() -> None:
    w = StallWatch()
    assert w.observe([(A, 1, 4)]) == []
    assert w.observe([]) == []  # revoked, paused or with records waiting in its buffer
    assert w.observe([(A, 1, 4)]) == []  # one sample again, not two in a row
    assert w.observe([(A, 1, 4)]) == [(A, 1, 4)]
