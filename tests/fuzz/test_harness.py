"""The fuzz harness's no-echo invariant (``fuzz.harness.check_no_echo``): a message may name a
format or the topic, and a value found only inside such a name is no quote; any other occurrence
of an input value is."""

from __future__ import annotations

import pytest

from fuzz.harness import InvariantViolation, check_no_echo

DATA = b'{"source": {"connector": "mongodb:", "name": "Canary-Value-7"}}'


def test_a_value_found_only_inside_a_format_name_is_no_quote() -> None:
    check_no_echo("debezium-mongodb: update without 'after'", DATA, "a DLQ reason")


@pytest.mark.parametrize(
    "message",
    [
        "debezium-mongodb: bad name Canary-Value-7",
        "debezium-mongodb: connector mongodb: is unknown",  # also outside the format name
        "cdc.orders: Canary-Value-7",
    ],
)
def test_a_value_anywhere_else_is_a_quote(message: str) -> None:
    with pytest.raises(InvariantViolation, match="quotes a value of the input"):
        check_no_echo(message, DATA, "a DLQ reason", ("cdc.orders",))
