"""The chaos campaign (``make chaos``): a generated change stream through ingest and every sink,
one ``streamproc worker --role R`` process per role, against the embedded broker, moto in server
mode (S3 + SQS), a throw-away PostgreSQL and the OpenSearch stand-in; meanwhile random roles are
SIGKILLed (and restarted) and random targets are stopped for 10–30 s (and started again on the
same port); at the end every target is counted against the offline expectation.

* :mod:`bench.chaos.plan` — the seeded schedule of kills and outages (pure);
* :mod:`bench.chaos.outages` — stopping a target and proving it refused connections meanwhile;
* :mod:`bench.chaos.campaign` — workers, feeding, faults, supervision, drain and the summary;
* :mod:`bench.chaos.verify` — the counts per target (lost, duplicated, unexpected, different);
* :mod:`bench.chaos.report` — the JSON summary and the verdict;
* ``python -m bench.chaos`` — the command line (``--help``).

It reuses the integration tests' machinery (``tests/integration/workers.py``,
``tests/integration/sinks/stack.py`` and ``checks.py``, ``tests/services``); results and what
each guarantee rests on are in docs/RELIABILITY.md.
"""

__all__: list[str] = []
