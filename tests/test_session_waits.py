"""The session's timed waits keep a cancellation (a session moving to a heavy process cancels its
training and frame tasks and waits for them to end: a lost cancellation froze the session)."""

import asyncio
import contextlib

from ganlab.server.session import wait_event


async def _set_and_cancel_in_one_pass(wait) -> list:
    ev, went_on = asyncio.Event(), []

    async def waiter():
        await wait(ev, 10.0)
        went_on.append(True)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the task now waits on the event
    ev.set()  # e.g. `play` wakes the paced frame sender ...
    task.cancel()  # ... in the same loop pass as `_move` cancels it
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return [task.cancelled(), went_on]


def test_a_wait_cancelled_as_its_event_is_set_ends_cancelled():
    """Fails with ``asyncio.wait_for`` (what the session used) on Python 3.11: it returns
    normally and the task goes on."""
    assert asyncio.run(_set_and_cancel_in_one_pass(wait_event)) == [True, []]


def test_a_timed_out_wait_returns():
    async def main():
        ev = asyncio.Event()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await wait_event(ev, 0.05)
        return loop.time() - t0

    assert 0.04 <= asyncio.run(main()) < 1.0
