"""One module per fuzz target, each with ``test_one_input(data: bytes) -> None``.

Nothing here imports ``streamproc``: ``python -m fuzz`` imports a target with atheris' import
hook active so that the streamproc modules it loads are instrumented.
"""

from __future__ import annotations

__all__ = ["TARGETS"]

#: every target, in the order the runner runs them
TARGETS: tuple[str, ...] = (
    "debezium_mongo",
    "debezium_sql",
    "mongo_kafka",
    "dms",
    "flat",
    "avro",
    "detect",
    "extjson",
    "config_loader",
    "processor",
)
