"""Target outages: stop one target (moto's S3 + SQS server, PostgreSQL, the OpenSearch stand-in),
keep it down for the planned time while probing its port, then start it again on the same port
with its state kept. The probes prove the outage: a TCP connect to the port must be refused
during it (``refused``), never accepted (``accepted``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.chaos.plan import Outage

__all__ = ["Target", "targets_of", "OutageRun", "refuses"]


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    stop: Callable[[], None]
    start: Callable[[], Any]


def targets_of(stack: Any) -> dict[str, Target]:
    """The stoppable targets of a :class:`tests.integration.sinks.stack.Stack`."""
    return {
        "moto": Target("moto", stack.moto.port, stack.moto.stop, stack.moto.start),
        "postgres": Target("postgres", stack.postgres.port, stack.postgres.stop, stack.postgres.start),
        "opensearch": Target("opensearch", stack.opensearch.port, stack.opensearch.stop, stack.opensearch.start),
    }


def refuses(port: int, host: str = "127.0.0.1") -> bool | None:
    """True: the connection was refused; False: accepted; None: neither (e.g. a timeout)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return None


class OutageRun(threading.Thread):
    """Carries out one planned :class:`Outage` of ``target``; ``result()`` describes what happened
    (times in seconds from ``t0``, a ``time.monotonic()`` value)."""

    def __init__(self, target: Target, outage: Outage, t0: float, probe_every: float = 0.5) -> None:
        super().__init__(name=f"outage-{target.name}", daemon=True)
        self.target, self.outage, self.t0, self.probe_every = target, outage, t0, probe_every
        self.refused = self.accepted = self.inconclusive = 0
        self.stopped_at: float | None = None
        self.started_at: float | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.target.stop()
            self.stopped_at = time.monotonic()
            until = self.stopped_at + self.outage.seconds
            while time.monotonic() < until:
                answer = refuses(self.target.port)
                if answer is True:
                    self.refused += 1
                elif answer is False:
                    self.accepted += 1
                else:
                    self.inconclusive += 1
                time.sleep(max(0.0, min(self.probe_every, until - time.monotonic())))
        except Exception as exc:  # noqa: BLE001 - reported in the summary; the target is started below
            self.error = f"stopping: {type(exc).__name__}: {exc}"
        for attempt in range(5):
            try:
                self.target.start()
                self.started_at = time.monotonic()
                return
            except Exception as exc:  # noqa: BLE001 - retried, then reported (a failed campaign)
                self.error = f"starting (attempt {attempt + 1}): {type(exc).__name__}: {exc}"
                time.sleep(2)

    @property
    def down(self) -> bool:
        return self.stopped_at is not None and self.started_at is None

    def result(self) -> dict[str, Any]:
        down_s = None
        if self.stopped_at is not None and self.started_at is not None:
            down_s = round(self.started_at - self.stopped_at, 2)
        return {
            "target": self.target.name,
            "planned_at": self.outage.at,
            "at": None if self.stopped_at is None else round(self.stopped_at - self.t0, 2),
            "planned_seconds": self.outage.seconds,
            "down_seconds": down_s,
            "probes_refused": self.refused,
            "probes_accepted": self.accepted,
            "probes_inconclusive": self.inconclusive,
            "error": self.error,
        }
