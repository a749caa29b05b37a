"""A realistic Debezium MongoDB change stream for the seven trigger collections.

Inserts, partial updates (``updateDescription`` only), full updates (``after`` +
``updateDescription``), replaces, deletes with tombstones, PII in users and owners, and the
faults a real pipeline meets: redelivered duplicates, reordered pairs, malformed records and
business-rule violations. Deterministic for a seed. Pure: returns records, does no I/O.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "DemoStream", "generate", "COLLECTIONS"]

FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Edsger", "Frances", "Donald", "Radia", "Guido"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton", "Dijkstra", "Allen", "Knuth", "Perlman", "Rossum"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Hillview", "Fairview", "Georgetown"]


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    kind: str  # insert|update|replace|delete|tombstone|duplicate|reordered|malformed|invalid


@dataclass
class DemoStream:
    records: list[Record] = field(default_factory=list)
    injected: Counter = field(default_factory=Counter)  # what the generator did, per kind


def _oid(rnd: random.Random) -> str:
    return "%024x" % rnd.getrandbits(96)


def _date(ms: int) -> dict[str, int]:
    return {"$date": ms}


def _person(rnd: random.Random, i: int, now: int) -> dict[str, Any]:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    return {
        "firstName": first,
        "lastName": last,
        "email": f"{first}.{last}{i}@example-mail.com".lower(),
        "phone": f"+1 555-{rnd.randint(1000000, 9999999)}",
        "ssn": f"{rnd.randint(100, 899)}-{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}",
        "taxId": f"{rnd.randint(10, 99)}-{rnd.randint(1000000, 9999999)}",
        "password": f"pw-{rnd.getrandbits(40):x}",
        "passwordHash": f"$2b$12${rnd.getrandbits(120):x}",
        "dateOfBirth": _date(now - rnd.randint(18, 80) * 365 * 86_400_000),
        "phones": [{"type": "mobile", "number": f"+1 555-{rnd.randint(1000000, 9999999)}"}],
        "contacts": [
            {
                "name": rnd.choice(FIRST),
                "email": f"contact{i}@example-mail.com",
                "phone": f"+1 555-{rnd.randint(1000000, 9999999)}",
            }
        ],
    }


def _users(rnd, i, now, ids):
    doc = {
        "status": rnd.choice(["active", "inactive"]),
        "role": rnd.choice(["renter", "owner_admin", "staff"]),
        "emailVerified": rnd.random() < 0.7,
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }
    doc.update(_person(rnd, i, now))
    return doc


def _owners(rnd, i, now, ids):
    doc = {
        "name": f"{rnd.choice(CITIES)} School District {i}",
        "type": rnd.choice(["school_district", "city", "church"]),
        "status": "active",
        "timezone": "America/Chicago",
        "address": {
            "street": f"{rnd.randint(1, 999)} Main St",
            "city": rnd.choice(CITIES),
            "zip": f"{rnd.randint(10000, 99999)}",
        },
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }
    doc.update(_person(rnd, i, now))
    return doc


def _reservations(rnd, i, now, ids):
    start = now + rnd.randint(1, 60) * 86_400_000
    return {
        "status": rnd.choice(["pending", "approved", "confirmed"]),
        "facilityId": f"fac-{rnd.randint(1, 40)}",
        "ownerId": f"own-{rnd.randint(1, 20)}",
        "userId": f"usr-{rnd.randint(1, 500)}",
        "eventName": f"{rnd.choice(['Soccer', 'Chess', 'Theatre', 'Robotics'])} practice",
        "startDate": _date(start),
        "endDate": _date(start + 7_200_000),
        "attendees": {"$numberLong": str(rnd.randint(5, 300))},
        "totalAmount": round(rnd.uniform(20, 2500), 2),
        "currency": "usd",
        "contactEmail": f"Organizer{i}@Example-Mail.com",
        "contactPhone": f"+1 555-{rnd.randint(1000000, 9999999)}",
        "notes": "gate code 4411, ask for the janitor",
        "internalNotes": "VIP",
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }


def _charges(rnd, i, now, ids):
    return {
        "reservationId": rnd.choice(ids["reservations"]) if ids["reservations"] else "res-0",
        "amount": {"$numberDecimal": f"{rnd.uniform(5, 900):.2f}"},
        "chargeType": rnd.choice(["rental", "staffing", "custodial", "insurance"]),
        "currency": "USD",
        "quantity": rnd.randint(1, 8),
        "description": "hourly rental",
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }


def _objs(rnd, i, now, ids):
    start = now + rnd.randint(1, 60) * 86_400_000
    return {
        "reservationId": rnd.choice(ids["reservations"]) if ids["reservations"] else "res-0",
        "facilityId": f"fac-{rnd.randint(1, 40)}",
        "spaceId": f"gym-{rnd.randint(1, 4)}",
        "startTime": _date(start),
        "endTime": _date(start + 3_600_000),
        "status": "active",
        "setupMinutes": 15,
        "teardownMinutes": 15,
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }


def _payments(rnd, i, now, ids):
    return {
        "reservationId": rnd.choice(ids["reservations"]) if ids["reservations"] else "res-0",
        "amount": round(rnd.uniform(20, 2500), 2),
        "method": rnd.choice(["card", "ach", "check"]),
        "status": "pending",
        "currency": "USD",
        "processorRef": f"ch_{rnd.getrandbits(48):x}",
        "cardLast4": f"{rnd.randint(0, 9999):04d}",
        "billingEmail": f"billing{i}@example-mail.com",
        "paidAt": _date(now),
        "createdAt": _date(now),
    }


def _facilities(rnd, i, now, ids):
    return {
        "facilityId": f"fac-{i}",
        "ownerId": f"own-{rnd.randint(1, 20)}",
        "iops": rnd.randint(0, 5000),
        "revenue": round(rnd.uniform(0, 90000), 2),
        "hours": rnd.randint(0, 700),
        "reservationCount": rnd.randint(0, 200),
        "periodStart": _date(now - 30 * 86_400_000),
        "periodEnd": _date(now),
        "updatedAt": _date(now),
    }


# collection -> (database, document factory, partial update factory, invalid variant)
Factory = Callable[[random.Random, int, int, dict], dict]
COLLECTIONS: dict[str, tuple[str, Factory, Callable[[random.Random], dict], dict]] = {
    "reservations": (
        "Facilitron_Prod",
        _reservations,
        lambda r: {"status": r.choice(["approved", "confirmed", "completed"]), "attendees": r.randint(5, 300)},
        {"status": "teleported"},
    ),
    "reservation_charges": (
        "Facilitron_Prod",
        _charges,
        lambda r: {"amount": round(r.uniform(5, 900), 2)},
        {"amount": -42},
    ),
    "reservation_objs": (
        "Facilitron_Prod",
        _objs,
        lambda r: {"status": r.choice(["cancelled", "completed"])},
        {"setupMinutes": -5},
    ),
    "reservation_payments": (
        "Facilitron_Prod",
        _payments,
        lambda r: {"status": r.choice(["succeeded", "refunded"])},
        {"method": "barter"},
    ),
    "aaDW_ReservationDataFacilities_v3": (
        "Facilitron_Prod",
        _facilities,
        lambda r: {"iops": r.randint(0, 5000), "hours": r.randint(0, 700)},
        {"iops": -1},
    ),
    "users": (
        "Facilitron_common",
        _users,
        lambda r: {"phone": f"+1 555-{r.randint(1000000, 9999999)}", "lastLoginAt": {"$date": 1_760_000_000_000}},
        {"email": "not-an-email"},
    ),
    "owners": ("Facilitron_common", _owners, lambda r: {"status": r.choice(["active", "inactive"])}, {"name": ""}),
}


class _Clock:
    """Source positions: cluster-time seconds and an increment, strictly increasing."""

    def __init__(self, start_ms: int) -> None:
        self.sec, self.ord = start_ms // 1000, 0

    def tick(self) -> tuple[int, int]:
        self.ord += 1
        if self.ord > 50:
            self.sec, self.ord = self.sec + 1, 1
        return self.sec * 1000, self.ord


def _envelope(db: str, coll: str, op: str, ts: tuple[int, int], *, after=None, update=None, unset=None) -> dict:
    value: dict[str, Any] = {
        "op": op,
        "ts_ms": ts[0] + 7,
        "before": None,
        "after": json.dumps(after) if after is not None else None,
    }
    if update is not None or unset is not None:
        value["updateDescription"] = {
            "updatedFields": json.dumps(update) if update else None,
            "removedFields": unset or None,
            "truncatedArrays": None,
        }
    value["source"] = {
        "version": "2.7.3.Final",
        "connector": "mongodb",
        "name": "cdc",
        "ts_ms": ts[0],
        "snapshot": "false",
        "db": db,
        "collection": coll,
        "ord": ts[1],
    }
    return value


def generate(documents: int = 300, updates: int = 3, seed: int = 42, start_ms: int = 1_767_225_600_000) -> DemoStream:
    rnd = random.Random(seed)
    clock = _Clock(start_ms)
    out = DemoStream()
    ids: dict[str, list[str]] = {c: [] for c in COLLECTIONS}

    def emit(topic: str, key: bytes | None, value: bytes | None, kind: str) -> None:
        out.records.append(Record(topic, key, value, kind))
        out.injected[kind] += 1

    # per collection, a queue of per-document event lists; interleaved round-robin below
    lanes: list[list[tuple[str, bytes, dict, str]]] = []
    for coll, (db, factory, partial, invalid) in COLLECTIONS.items():
        topic = f"cdc.{db}.{coll}"
        for i in range(documents):
            _id = _oid(rnd)
            ids[coll].append(_id)
            key = json.dumps({"id": json.dumps({"$oid": _id})}).encode()
            doc = {"_id": {"$oid": _id}, **factory(rnd, i, start_ms, ids)}
            lane: list[tuple[str, bytes, dict, str]] = [(topic, key, {"op": "c", "after": doc}, "insert")]
            for _ in range(rnd.randint(max(0, updates - 2), updates + 2)):
                roll = rnd.random()
                if roll < 0.6:
                    lane.append((topic, key, {"op": "u", "update": partial(rnd)}, "update"))
                elif roll < 0.85:
                    change = partial(rnd)
                    doc = {**doc, **change}
                    lane.append((topic, key, {"op": "u", "after": doc, "update": change}, "update"))
                else:
                    doc = {"_id": doc["_id"], **factory(rnd, i, start_ms, ids)}
                    lane.append((topic, key, {"op": "u", "after": doc}, "replace"))
            if rnd.random() < 0.01:
                lane.append((topic, key, {"op": "u", "update": invalid}, "invalid"))
            if rnd.random() < 0.05:
                lane.append((topic, key, {"op": "d"}, "delete"))
            lanes.append(lane)
    rnd.shuffle(lanes)
    cursors = [0] * len(lanes)
    live = list(range(len(lanes)))
    while live:
        li = rnd.choice(live)
        topic, key, spec, kind = lanes[li][cursors[li]]
        cursors[li] += 1
        if cursors[li] == len(lanes[li]):
            live.remove(li)
        db, coll = topic.split(".")[1:]
        ts = clock.tick()
        op = spec["op"]
        value = json.dumps(_envelope(db, coll, op, ts, after=spec.get("after"), update=spec.get("update"))).encode()
        if kind == "update" and cursors[li] < len(lanes[li]) and rnd.random() < 0.03:
            # reorder: the next change of this document overtakes this one, which then arrives stale
            t2, k2, s2, kind2 = lanes[li][cursors[li]]
            if kind2 in ("update", "replace"):
                cursors[li] += 1
                if cursors[li] == len(lanes[li]):
                    live.remove(li)
                v2 = json.dumps(
                    _envelope(db, coll, s2["op"], clock.tick(), after=s2.get("after"), update=s2.get("update"))
                ).encode()
                emit(t2, k2, v2, kind2)
                emit(topic, key, value, "reordered")
                continue
        emit(topic, key, value, kind)
        if op == "d":
            emit(topic, key, None, "tombstone")
        if rnd.random() < 0.03:
            emit(topic, key, value, "duplicate")
    topics = [f"cdc.{db}.{c}" for c, (db, *_rest) in COLLECTIONS.items()]
    for n in range(max(2, documents // 100)):
        topic = rnd.choice(topics)
        emit(topic, b'{"id":"{\\"$oid\\": \\"0\\"}"}', b"\x00\x01garbage-not-json", "malformed")
        emit(topic, None, b'{"op":"c","after":"{\\"_id\\": ', "malformed")
    return out
