"""Retry policy of the sink runner: exponential backoff with jitter and a circuit breaker.

:class:`Backoff` spaces the retries of one batch; :class:`CircuitBreaker` counts consecutive
transient failures of one sink and, once open, makes the runner wait before the next probe.
:data:`BREAKER_STATES` maps each breaker state to the value of the ``streamproc_sink_breaker``
gauge. Pure: no I/O, and the clock and random source are injectable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "BREAKER_STATES", "Backoff", "CircuitBreaker"]

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
#: Breaker state → gauge value.
BREAKER_STATES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class Backoff:
    """Exponential delays with "equal jitter": attempt n waits between d/2 and d, d = initial·2ⁿ ≤ max."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        d = min(self.maximum, self.initial * (2 ** min(attempt, 32)))
        return d / 2 + self.rng.uniform(0, d / 2)


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset`` seconds one probe is let
    through (half-open): success closes it, failure opens it again."""

    def __init__(self, threshold: int, reset: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset = reset
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() - self.opened_at >= self.reset else OPEN

    def wait_time(self) -> float:
        """Seconds until a call may be attempted (0 when closed or half-open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.reset - (self.clock() - self.opened_at))

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = self.clock()
