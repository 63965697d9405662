"""Injectable clocks.

Everything that depends on time takes a :class:`Clock` so tests can drive it with
``tests.support.clock.FakeClock`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic time source in seconds, able to wait until an absolute deadline."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once :meth:`now` is at or past ``deadline``."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic` and the running event loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


SYSTEM_CLOCK = MonotonicClock()
