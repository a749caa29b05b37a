"""The shipped config/pipelines.yaml, end to end on documents a demo would produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamproc.config.loader import parse_pipelines
from streamproc.errors import ValidationFailed
from streamproc.model import Op, Update
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.routing import SourceRouter
from streamproc.pipeline.vocabulary import RedactMode

CONFIG = Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml"
KEY = b"shipped-config-test-key-0123456789"

COLLECTIONS = {
    "reservations": "Facilitron_Prod.reservations",
    "reservation_charges": "Facilitron_Prod.reservation_charges",
    "reservation_objs": "Facilitron_Prod.reservation_objs",
    "reservation_payments": "Facilitron_Prod.reservation_payments",
    "reservation_data_facilities": "Facilitron_Prod.aaDW_ReservationDataFacilities_v3",
    "users": "Facilitron_common.users",
    "owners": "Facilitron_common.owners",
}


@pytest.fixture(scope="module")
def spec():
    return parse_pipelines(CONFIG.read_text(), str(CONFIG))


def test_covers_the_seven_collections_and_the_postgres_example(spec):
    router = SourceRouter(spec.sources)
    for entity, namespace in COLLECTIONS.items():
        src = router.match(f"cdc.{namespace}", namespace)
        assert src is not None and src.entity == entity
        assert router.match(f"cdc.{namespace}", None) is src
        assert src.key == ["_id"]
    orders = router.match("pg.public.orders", "public.orders")
    assert orders.entity == "orders" and orders.format == "debezium-sql" and orders.key == ["id"]
    assert {r.path: r.mode for r in orders.redact} == {"customer_email": RedactMode.TOKENIZE}
    assert any(t.decimal for t in orders.transform)
    assert spec.topics() == [f"cdc.{ns}" for ns in COLLECTIONS.values()] + ["pg.public.orders"]


def test_event_types(spec):
    assert spec.source("users").event_type(Op.INSERT) == "user.created"
    assert spec.source("users").event_type(Op.DELETE) == "user.deleted"
    assert spec.source("owners").event_type(Op.INSERT) == "owner.created"
    assert spec.source("reservations").event_type(Op.UPDATE) == "reservation.updated"
    assert spec.source("orders").event_type(Op.INSERT) == "order.created"
    assert not spec.source("users").accepts(Op.TRUNCATE)


@pytest.mark.parametrize("entity", ["users", "owners"])
def test_people_collections_redact_the_documented_fields(spec, entity):
    modes = {r.path: r.mode for r in spec.source(entity).redact}
    assert modes["email"] is modes["phone"] is RedactMode.PARTIAL_MASK
    assert modes["phones.number"] is modes["contacts.email"] is RedactMode.PARTIAL_MASK
    for field in ("ssn", "taxId", "password", "passwordHash"):
        assert modes[field] is RedactMode.REMOVE
    assert modes["dateOfBirth"] is RedactMode.HASH


SAMPLES = {
    "reservations": {
        "_id": "r1",
        "status": "confirmed",
        "facilityId": "f1",
        "ownerId": "o1",
        "userId": "u1",
        "eventName": "Game",
        "startDate": "2024-05-01T18:00:00Z",
        "endDate": 1714600800000,
        "attendees": 40,
        "totalAmount": 250.0,
        "currency": "usd",
        "contactEmail": "Pat@Example.com",
        "internalNotes": "x",
        "createdAt": 1714000000000,
    },
    "reservation_charges": {
        "_id": "c1",
        "reservationId": "r1",
        "amount": 120.5,
        "chargeType": "rental",
        "currency": "USD",
        "quantity": 2,
    },
    "reservation_objs": {
        "_id": "o1",
        "reservationId": "r1",
        "facilityId": "f1",
        "startTime": "2024-05-01T18:00:00Z",
        "endTime": "2024-05-01T20:00:00Z",
        "status": "active",
        "setupMinutes": 15,
    },
    "reservation_payments": {
        "_id": "p1",
        "reservationId": "r1",
        "amount": 250,
        "method": "card",
        "status": "succeeded",
        "processorRef": "ch_3Mtw",
        "cardLast4": "4242",
        "billingEmail": "pay@example.com",
        "paidAt": 1714000000000,
    },
    "reservation_data_facilities": {
        "_id": "d1",
        "facilityId": "f1",
        "iops": 3,
        "revenue": 1000.25,
        "hours": 12.5,
        "reservationCount": 4,
        "periodStart": "2024-05-01",
    },
    "users": {
        "_id": "u1",
        "email": "pat@example.com",
        "firstName": "Pat",
        "lastName": "Lee",
        "status": "active",
        "role": "renter",
        "phones": [{"type": "cell", "number": "+1 555-0100"}],
        "createdAt": 1714000000000,
    },
    "owners": {
        "_id": "w1",
        "name": "Springfield USD",
        "type": "school_district",
        "status": "active",
        "email": "ops@springfield.k12.ca.us",
        "address": {"city": "Springfield"},
    },
    "orders": {
        "id": 7,
        "customer_email": "Pat@Example.com",
        "status": "paid",
        "total": "19.90",
        "currency": "usd",
        "created_at": 1714000000000000,
    },
}


@pytest.mark.parametrize("entity", list(SAMPLES))
def test_sample_documents_validate_and_clean(spec, entity):
    c = compile_source(spec.source(entity), KEY)
    doc = SAMPLES[entity]
    c.validate(doc, partial=False)
    clean = c.clean_doc(doc)
    assert set(clean) <= set(doc)


@pytest.mark.parametrize(
    ("entity", "change", "rule"),
    [
        ("reservation_charges", {"amount": -1}, "amount"),
        ("reservation_data_facilities", {"iops": -0.5}, "iops"),
        ("reservations", {"status": "maybe"}, "status"),
        ("reservations", {"facilityId": 7}, "facilityId"),
        ("users", {"email": None}, "email"),
        ("reservation_payments", {"cardLast4": "12345"}, "cardLast4"),
    ],
)
def test_business_rules_warn_on_bad_documents(spec, entity, change, rule):
    """The seven trigger collections' business rules warn (on_invalid: emit): the triggers delivered these."""
    c = compile_source(spec.source(entity), KEY)
    assert c.validate({**SAMPLES[entity], **change}, partial=False) == (rule,)
    assert c.validate(SAMPLES[entity], partial=False) == ()


def test_business_rules_of_orders_still_reject(spec):
    c = compile_source(spec.source("orders"), KEY)
    with pytest.raises(ValidationFailed) as info:
        c.validate({"id": 1, "customer_email": "a@b.c", "status": "lost"}, partial=False)
    assert str(info.value) == "status: not one of the allowed values"


def test_every_trigger_collection_emits_on_invalid(spec):
    triggers = set(spec.sinks.s3_trigger.entities)
    assert len(triggers) == 7
    for src in spec.sources:
        assert src.on_invalid == ("emit" if src.entity in triggers else "dlq"), src.entity
        assert all(src.severity(r) == ("warn" if src.entity in triggers else "error") for r in src.validation)


def test_shipped_transforms(spec):
    clean = compile_source(spec.source("reservations"), KEY).clean_doc(SAMPLES["reservations"])
    assert "internalNotes" not in clean
    assert clean["totalAmount"] == "250"
    assert clean["currency"] == "USD"
    assert clean["endDate"] == "2024-05-01T22:00:00.000Z"
    assert clean["contactEmail"] == "p**@e******.com"
    order = compile_source(spec.source("orders"), KEY).clean_doc(SAMPLES["orders"])
    same_customer = compile_source(spec.source("orders"), KEY).clean_doc(
        {**SAMPLES["orders"], "customer_email": "pat@example.com"}
    )
    assert order["customer_email"].startswith("tok_") and order["customer_email"] == same_customer["customer_email"]
    assert order["total"] == "19.9" and order["created_at"] == "2024-04-24T23:06:40.000Z"


def _canaries_left(obj, canaries):
    text = json.dumps(obj).lower()
    return [c for c in canaries if c.lower() in text]


def test_canaries_never_reach_the_clean_output(spec):
    c = compile_source(spec.source("users"), KEY)
    canary = {
        "email": "canaryemailalpha@canarydomainbeta.com",
        "phone": "+1 555 canaryphone01",
        "phones": "+1 555 canaryphones2",
        "contacts_email": "canarycontactmail@canarycontactdom.org",
        "contacts_phone": "canarycontactphone03",
        "lastName": "canarylastnamegamma",
        "ssn": "canaryssn-123-45-6789",
        "taxId": "canarytaxid-98-7654321",
        "password": "canarypassword-hunter2",
        "passwordHash": "canarypwhash$2b$12$abcdef",
        "dateOfBirth": "canarydob-1990-01-01",
    }
    doc = {
        "_id": "u1",
        "email": canary["email"],
        "phone": canary["phone"],
        "phones": [{"type": "cell", "number": canary["phones"]}],
        "contacts": [{"name": "x", "email": canary["contacts_email"], "phone": canary["contacts_phone"]}],
        "lastName": canary["lastName"],
        "ssn": canary["ssn"],
        "taxId": canary["taxId"],
        "password": canary["password"],
        "passwordHash": canary["passwordHash"],
        "dateOfBirth": canary["dateOfBirth"],
    }
    update = Update(
        set={
            "email": canary["email"],
            "phones.0.number": canary["phones"],
            "phones": [{"number": canary["phone"]}],
            "contacts.0.email": canary["contacts_email"],
            "contacts": [{"email": canary["contacts_email"], "phone": canary["contacts_phone"]}],
            "contacts.1": {"phone": canary["contacts_phone"]},
            "ssn": canary["ssn"],
            "taxId.value": canary["taxId"],
            "password": canary["password"],
            "passwordHash": canary["passwordHash"],
            "dateOfBirth": canary["dateOfBirth"],
            "lastName": canary["lastName"],
        },
        unset=("phone",),
    )
    values = list(canary.values())
    # the canaries really are in the inputs, so the checks below can fail
    assert len(_canaries_left(doc, values)) == len(values)
    assert _canaries_left(doc, values) and _canaries_left(update.to_json(), values)

    assert _canaries_left(c.clean_doc(doc), values) == []
    assert _canaries_left(c.clean_update(update).to_json(), values) == []
    assert _canaries_left(c.redact_key({"_id": "u1", "email": canary["email"]}), values) == []
