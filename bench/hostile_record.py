"""Issue 10 §1 in the worker: the Debezium MongoDB update that sets ``"tags.300000000": 1`` (and the
500 x ``tags.N.99999`` update) must end in the DLQ in under 2 s, with the worker's peak RSS under
300 MB. A measurement script, not a test.

    .venv/bin/python bench/hostile_record.py

Starts the embedded broker and ``streamproc worker --role ingest`` on the shipped pipelines file,
produces one normal insert of a user (so the key has a document to pad), waits for its clean event,
then produces each hostile update and measures, from the produce call, the time until the worker's
DLQ counter moves; the worker's peak RSS is its ``VmHWM`` from /proc after all of them. Prints JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamproc.dev.broker import EmbeddedBroker  # noqa: E402
from tests.integration.workers import WorkerProcess, produce  # noqa: E402

TOPIC = "cdc.Facilitron_common.users"
OID = "65a1b2c3d4e5f60718293a4b"
KEY = json.dumps({"id": json.dumps({"$oid": OID})}).encode()


def envelope(op: str, ord_: int, **fields: object) -> bytes:
    source = {"connector": "mongodb", "ts_ms": 1767225600000, "db": "Facilitron_common", "collection": "users"}
    return json.dumps({"op": op, "source": {**source, "ord": ord_}, **fields}).encode()


def hostile_updates() -> dict[str, bytes]:
    pad = {"tags.300000000": 1}
    many = {f"tags.{i}.99999": 1 for i in range(500)}
    return {
        "tags.300000000": envelope("u", 2, updateDescription={"updatedFields": json.dumps(pad), "removedFields": []}),
        "500 x tags.N.99999": envelope(
            "u", 3, updateDescription={"updatedFields": json.dumps(many), "removedFields": []}
        ),
    }


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> int:
    insert = envelope(
        "c", 1, after=json.dumps({"_id": {"$oid": OID}, "email": "ada@example.com", "status": "active", "tags": []})
    )
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        worker = WorkerProcess(broker.bootstrap, Path(tmp) / "data", REPO / "config" / "pipelines.yaml").start()
        try:
            worker.wait_ready(120)
            produce(broker.bootstrap, [(TOPIC, KEY, insert)])
            worker.wait_processed(1, 60)
            before = vm_hwm_mb(worker.proc.pid)  # type: ignore[union-attr]
            results = {}
            for name, value in hostile_updates().items():
                dlq = worker.total("streamproc_events_dlq_total")
                started = time.monotonic()
                produce(broker.bootstrap, [(TOPIC, KEY, value)])
                while worker.total("streamproc_events_dlq_total") <= dlq:
                    if time.monotonic() - started > 60:
                        raise SystemExit(f"{name}: no DLQ record within 60 s")
                    time.sleep(0.02)
                results[name] = {"bytes": len(value), "seconds_to_dlq": round(time.monotonic() - started, 3)}
            out = {
                "worker_peak_rss_mb_before": round(before, 1),
                "worker_peak_rss_mb_after": round(vm_hwm_mb(worker.proc.pid), 1),  # type: ignore[union-attr]
                "records": results,
            }
        finally:
            worker.stop()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
