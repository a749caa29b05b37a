"""The sinks: the one :class:`~streamproc.sinks.base.Sink` contract, the runner that drives a sink
(batches, retries, circuit breaker, DLQ hand-off) and one sub-package per target — ``s3``
(trigger-compatible objects and messages, the archive, parity), ``opensearch`` and
``warehouse``. No Faust here; the configuration models are only annotations (they live in
:mod:`streamproc.config`).
"""

__all__: list[str] = []
