"""The documents of the demo's seven trigger collections: per collection, a factory for a full
document (people with PII in users and owners; contact details in reservations and payments),
one for a partial update, and a business-rule violation. Deterministic for a
:class:`random.Random`; used by :mod:`.generator`."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["COLLECTIONS", "Factory", "oid"]

FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Edsger", "Frances", "Donald", "Radia", "Guido"]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Dijkstra",
    "Allen",
    "Knuth",
    "Perlman",
    "Rossum",
]
CITIES = ["Springfield", "Riverton", "Lakeside", "Hillview", "Fairview", "Georgetown"]


def oid(rnd: random.Random) -> str:
    """A MongoDB ObjectId in hex."""
    return f"{rnd.getrandbits(96):024x}"


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


def _users(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
    doc = {
        "status": rnd.choice(["active", "inactive"]),
        "role": rnd.choice(["renter", "owner_admin", "staff"]),
        "emailVerified": rnd.random() < 0.7,
        "createdAt": _date(now),
        "updatedAt": _date(now),
    }
    doc.update(_person(rnd, i, now))
    return doc


def _owners(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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


def _reservations(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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


def _charges(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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


def _objs(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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


def _payments(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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


def _facilities(rnd: random.Random, i: int, now: int, ids: dict[str, list[str]]) -> dict[str, Any]:
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
Factory = Callable[[random.Random, int, int, dict[str, list[str]]], dict[str, Any]]
COLLECTIONS: dict[str, tuple[str, Factory, Callable[[random.Random], dict[str, Any]], dict[str, Any]]] = {
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
