"""One end-to-end test stack: unique topics and a pipelines file with every sink, moto (S3 + SQS),
the OpenSearch stand-in, a throw-away PostgreSQL, and one worker process per role. With
``eventbridge=True`` also the EventBridge sink: a bus whose rule ``users`` selects DetailType
``user.*`` into one queue and rule ``all`` everything into another, reached through a moto server
of its own (:attr:`Stack.eb_moto`, same state as :attr:`Stack.moto`) so it can go down alone."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

from streamproc.dev.demo.generator import generate
from streamproc.dev.opensearch_fake import OpenSearchFake
from streamproc.dev.services import endpoint_env
from tests.integration.workers import (
    WorkerProcess,
    committed_lag,
    end_offsets,
    unique_config,
    wait_for,
)
from tests.services.moto import MotoService
from tests.services.postgres import LocalPostgres

__all__ = ["Stack", "ENTITIES", "SINKS_OF_ROLE"]

ENTITIES = ("reservations", "users")
DOCUMENTS = 80  # per entity; about 550 source records in all
#: The sinks of each sink role; each sink consumes in its own group ``<app>-sink-<sink>``.
SINKS_OF_ROLE = {
    "s3": ("s3", "s3-archive"),
    "opensearch": ("opensearch",),
    "warehouse": ("warehouse",),
    "eventbridge": ("eventbridge",),
}
#: The roles every stack runs (``eventbridge`` only with ``Stack(eventbridge=True)``).
BASE_ROLES = ("s3", "opensearch", "warehouse")


class Stack:
    """Broker topics, services and the four worker processes of one test."""

    def __init__(
        self, bootstrap: str, work: Path, entities: tuple[str, ...] = ENTITIES, eventbridge: bool = False
    ) -> None:
        self.entities = entities
        self.bootstrap = bootstrap
        self.work = work
        self.uniq = f"e2e{uuid.uuid4().hex[:8]}"
        self.bucket = f"{self.uniq}-changes"
        self.lake = f"{self.uniq}-lake"
        # the first entity on a FIFO queue, the others on standard queues
        self.queues = {e: f"{self.uniq}-{e}" + (".fifo" if n == 0 else "") for n, e in enumerate(sorted(entities))}
        self.workers: dict[str, WorkerProcess] = {}
        self._services = contextlib.ExitStack()  # what started is stopped, even if a later start fails
        try:
            self.moto = MotoService().start()
            self._services.callback(self.moto.stop)
            self.opensearch = OpenSearchFake().start()
            self._services.callback(self.opensearch.stop)
            self.postgres = LocalPostgres()  # its own directory, readable by the postgres user
            self._services.callback(self.postgres.cleanup)  # stops it, removes its directory
            self.postgres.start()
        except BaseException:
            self._services.close()
            raise
        self.dsn = self.postgres.dsn_for(self.postgres.create_database(f"wh_{self.uniq}"))
        self.config = work / "pipelines.yaml"
        self.bus = f"{self.uniq}-bus"
        self.eb_queues: dict[str, str] = {}  # rule → queue URL
        self.eb_moto: MotoService | None = None
        extra: dict[str, object] = {}
        if eventbridge:
            extra["eventbridge"] = {"entities": list(entities), "bus": self.bus, "source_prefix": "coredb"}
        self.topics = unique_config(
            self.config,
            entities,
            self.uniq,
            sinks={
                **extra,
                "s3_trigger": {
                    "bucket": self.bucket,
                    "env": "prod/",
                    "entities": {e: {"collection": e, "queue": q} for e, q in self.queues.items()},
                },
                "s3_archive": {"bucket": self.lake, "prefix": "archive", "format": "avro", "max_seconds": 1.0},
                "opensearch": {"index_template": "{database}_{collection}"},
                "warehouse": {"schema": "public", "entities": "all"},
            },
        )
        s3, sqs = self.moto.client("s3"), self.moto.client("sqs")
        s3.create_bucket(Bucket=self.bucket)
        s3.create_bucket(Bucket=self.lake)
        for q in self.queues.values():
            attrs = {"FifoQueue": "true"} if q.endswith(".fifo") else {}
            sqs.create_queue(QueueName=q, Attributes=attrs)
        if eventbridge:
            self._create_bus()
        self.app_id = f"it-{self.uniq}"
        self.prefix = self.uniq
        self.batch_records = 100
        self.aws_endpoint: str | None = None  # workers reach S3/SQS here instead (e.g. a fault proxy)

    def _create_bus(self) -> None:
        self.eb_moto = MotoService().start()
        self._services.callback(self.eb_moto.stop)
        events, sqs = self.moto.client("events"), self.moto.client("sqs")
        events.create_event_bus(Name=self.bus)
        for rule, pattern in (
            ("users", {"detail-type": [{"prefix": "user."}]}),
            ("all", {"source": [{"prefix": ""}]}),
        ):
            url = sqs.create_queue(QueueName=f"{self.uniq}-eb-{rule}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=f"{self.uniq}-{rule}", EventBusName=self.bus, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=f"{self.uniq}-{rule}", EventBusName=self.bus, Targets=[{"Id": "q", "Arn": arn}])
            self.eb_queues[rule] = url

    def env(self) -> dict[str, str]:
        aws = self.moto.aws_settings()
        if self.aws_endpoint is not None:
            aws = aws.model_copy(update={"endpoint_url": self.aws_endpoint})
        return {
            **endpoint_env(aws, self.opensearch.url, self.dsn),
            "STREAMPROC_SINK__BATCH_SECONDS": "0.2",
            "STREAMPROC_SINK__BATCH_RECORDS": str(self.batch_records),
            "STREAMPROC_SINK__RETRY_MAX": "2",
            "STREAMPROC_SINK__BREAKER_FAILURES": "3",
            "STREAMPROC_SINK__BREAKER_RESET": "3",
            **({"STREAMPROC_EVENTBRIDGE__ENDPOINT_URL": self.eb_moto.endpoint_url} if self.eb_moto else {}),
        }

    def worker(self, role: str, loglevel: str = "info") -> WorkerProcess:
        """Start a worker process for ``role`` (one role, or several comma-separated)."""
        w = WorkerProcess(
            self.bootstrap,
            self.work / f"data-{role}",
            self.config,
            app_id=self.app_id,
            topic_prefix=self.prefix,
            roles=role,
            log_path=self.work / f"{role}.log",
            extra_env=self.env(),
            loglevel=loglevel,
        )
        self.workers[role] = w
        return w.start()

    def start_all(self, loglevel: str = "info") -> None:
        for role in ("ingest", "s3", "opensearch", "warehouse"):
            self.worker(role, loglevel)
        for w in self.workers.values():
            w.wait_ready()

    def records(self) -> list[tuple]:
        stream = generate(documents=DOCUMENTS, updates=3, seed=11)
        return [(self.topics[r.topic], r.key, r.value) for r in stream.records if r.topic in self.topics]

    def clean_topics(self) -> list[str]:
        return [f"{self.prefix}.events.{e}" for e in self.entities]

    def wait_drained(self, timeout: float = 180.0, roles: tuple[str, ...] = BASE_ROLES) -> None:
        """The ingest group and every consumer group of the sinks of ``roles`` have committed
        everything; call once nothing more is produced."""

        def alive() -> None:
            for role, w in self.workers.items():
                if w.proc is not None and w.proc.poll() is not None:
                    raise AssertionError(f"{role} worker exited with {w.proc.returncode}:\n{w.log()[-3000:]}")

        def caught_up(group: str, ends: dict) -> bool:
            alive()
            return committed_lag(self.bootstrap, group, ends) == 0

        sources = end_offsets(self.bootstrap, self.topics.values())  # fixed: the producer is done
        wait_for(lambda: caught_up(self.app_id, sources), timeout, interval=1.0, message="ingest caught up")
        clean = end_offsets(self.bootstrap, self.clean_topics())  # fixed: ingest is done
        for sink in (sink for role in roles for sink in SINKS_OF_ROLE[role]):
            wait_for(
                lambda sink=sink: caught_up(f"{self.app_id}-sink-{sink}", clean),
                timeout,
                interval=1.0,
                message=f"sink {sink} caught up",
            )

    def close(self) -> None:
        for w in self.workers.values():
            w.kill()
        self._services.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
