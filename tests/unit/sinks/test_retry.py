"""The retry policy of the sink runner (``streamproc.sinks.retry``): backoff with jitter, and the
circuit breaker's states."""

from __future__ import annotations

import random

from streamproc.sinks.retry import Backoff, CircuitBreaker


def test_backoff_grows_to_the_maximum_with_jitter():
    b = Backoff(0.5, 4.0, random.Random(3))
    for attempt, full in enumerate([0.5, 1, 2, 4, 4, 4]):
        d = b.delay(attempt)
        assert full / 2 <= d <= full


def test_breaker_half_open_probe_failure_reopens():
    now = [0.0]
    cb = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    cb.failure()
    assert cb.state == "closed"
    cb.failure()
    assert cb.state == "open" and cb.wait_time() == 10.0
    now[0] = 10.0
    assert cb.state == "half_open" and cb.wait_time() == 0
    cb.failure()
    assert cb.state == "open"
    cb.success()
    assert cb.state == "closed"
