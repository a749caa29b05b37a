"""The demo's EventBridge consumer side, in its moto: a bus, a rule selecting every entry of the
demo's Source prefix, and the SQS queue the rule delivers to (the demo's queue consumer counts what
arrives there). The bus and the Source prefix reach the worker as settings
(``STREAMPROC_EVENTBRIDGE__BUS``, ``STREAMPROC_EVENTBRIDGE__SOURCE_PREFIX``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.config.settings import AwsSettings

__all__ = ["BUS", "SOURCE_PREFIX", "RULE", "QUEUE", "create_route", "worker_env"]

BUS = "streamproc-demo"
SOURCE_PREFIX = "coredb"
RULE = "streamproc-demo-coredb"
QUEUE = "streamproc-demo-eventbridge"


def create_route(aws: AwsSettings) -> str:
    """Create the bus, the rule (Source prefix ``coredb.``) and its target queue; the queue URL."""
    from streamproc.sinks.s3.aws import make_client

    events, sqs = make_client("events", aws), make_client("sqs", aws)
    events.create_event_bus(Name=BUS)
    url: str = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [{"prefix": f"{SOURCE_PREFIX}."}]}
    events.put_rule(Name=RULE, EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=RULE, EventBusName=BUS, Targets=[{"Id": "demo-queue", "Arn": arn}])
    return url


def worker_env() -> dict[str, str]:
    return {"STREAMPROC_EVENTBRIDGE__BUS": BUS, "STREAMPROC_EVENTBRIDGE__SOURCE_PREFIX": SOURCE_PREFIX}
