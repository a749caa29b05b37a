"""The ingest stage's message hand-over (``streamproc.runtime.consumer.SourceBuffer``): batching, back-pressure,
and the rebalance rules Faust's stock stream path applies. ``FakeApp`` is a stand-in for the two
Faust app attributes the buffer reads (its flow control is mode's real ``FlowControlEvent``); the
whole path runs against a real broker in the ingest, crash and rebalance integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import pytest
from mode.utils.queues import FlowControlEvent

from streamproc.runtime.consumer import SourceBuffer


class FakeApp:
    def __init__(self) -> None:
        self.flow_control = FlowControlEvent(initially_suspended=False)
        self.consumer_generation_id = 1


@dataclass
class Msg:
    offset: int
    generation_id: int = 1


T = TypeVar("T")

#: seconds a test waits for something that should happen at once
DEADLINE = 5.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


async def settle() -> None:
    """Let every ready task run until it blocks: a few turns of the loop, no wall-clock wait."""
    for _ in range(20):
        await asyncio.sleep(0)


async def within_deadline(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result; fails the test when it is not done after :data:`DEADLINE` seconds."""
    return await asyncio.wait_for(awaitable, DEADLINE)


def test_a_full_batch_is_taken_at_once_in_fetch_order() -> None:
    async def main() -> None:
        buf = SourceBuffer(FakeApp(), maxsize=100)
        for i in range(7):
            buf.put(Msg(i))
        first = await buf.take(5, within=60)  # would wait a minute if it waited for more
        assert [m.offset for m in first] == [0, 1, 2, 3, 4]
        assert len(buf) == 2

    run(main())


def test_a_partial_batch_is_taken_after_the_window() -> None:
    async def main() -> None:
        buf = SourceBuffer(FakeApp(), maxsize=100)
        buf.put(Msg(0))
        buf.put(Msg(1))
        assert [m.offset for m in await buf.take(10, within=0.05)] == [0, 1]

    run(main())


def test_take_waits_for_the_first_message_and_wakes_when_the_batch_fills() -> None:
    async def main() -> None:
        buf = SourceBuffer(FakeApp(), maxsize=100)
        taker = asyncio.ensure_future(buf.take(3, within=60))
        await settle()
        assert not taker.done()
        for i in range(3):
            buf.put(Msg(i))
            await settle()
        assert [m.offset for m in await within_deadline(taker)] == [0, 1, 2]  # not after the 60 s window

    run(main())


def test_messages_of_an_older_generation_are_dropped_when_taken() -> None:
    async def main() -> None:
        app = FakeApp()
        buf = SourceBuffer(app, maxsize=100)
        buf.put(Msg(0, generation_id=1))
        buf.put(Msg(1, generation_id=1))
        app.consumer_generation_id = 2  # a rebalance: Faust seeks back to the committed offsets
        buf.put(Msg(0, generation_id=2))
        assert [(m.offset, m.generation_id) for m in await buf.take(10, within=0.01)] == [(0, 2)]

    run(main())


def test_flow_control_clear_empties_the_buffer_as_on_a_rebalance() -> None:
    async def main() -> None:
        app = FakeApp()
        buf = SourceBuffer(app, maxsize=2)
        buf.put(Msg(0))
        buf.put(Msg(1))
        assert not buf.space.is_set()
        app.flow_control.suspend()
        app.flow_control.clear()
        assert len(buf) == 0 and buf.space.is_set()

    run(main())


def test_offer_waits_for_space_and_the_taker_frees_it() -> None:
    async def main() -> None:
        buf = SourceBuffer(FakeApp(), maxsize=2)
        stopped = asyncio.Event()
        await buf.offer(Msg(0), stopped)
        await buf.offer(Msg(1), stopped)
        third = asyncio.ensure_future(buf.offer(Msg(2), stopped))
        await settle()
        assert not third.done() and len(buf) == 2
        assert [m.offset for m in await buf.take(1, within=0)] == [0]
        await within_deadline(third)
        assert [m.offset for m in await buf.take(5, within=0.01)] == [1, 2]

    run(main())


def test_offer_holds_while_the_app_flow_is_suspended_then_delivers() -> None:
    async def main() -> None:
        app = FakeApp()
        buf = SourceBuffer(app, maxsize=10)
        app.flow_control.suspend()
        offer = asyncio.ensure_future(buf.offer(Msg(0), asyncio.Event()))
        await settle()
        assert not offer.done() and len(buf) == 0
        app.flow_control.resume()
        await within_deadline(offer)
        assert len(buf) == 1

    run(main())


@pytest.mark.parametrize("while_full", [False, True])
def test_offer_drops_the_message_once_the_consumer_flow_stops(while_full: bool) -> None:
    async def main() -> None:
        app = FakeApp()
        buf = SourceBuffer(app, maxsize=1)
        stopped = asyncio.Event()
        if while_full:
            buf.put(Msg(0))
        else:
            app.flow_control.suspend()
        offer = asyncio.ensure_future(buf.offer(Msg(1), stopped))
        await settle()
        assert not offer.done()  # held: full, or the app's flow suspended
        stopped.set()  # Consumer.stop_flow(): the stock path abandons the message, a seek follows
        await within_deadline(offer)
        assert len(buf) == (1 if while_full else 0)
        if while_full:
            assert [m.offset for m in await buf.take(5, within=0)] == [0]

    run(main())
