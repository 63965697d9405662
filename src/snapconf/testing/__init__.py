"""What tests and benchmarks share: a clock that only moves when told to, and a wait for a
server they started."""

from snapconf.testing.clock import FakeClock
from snapconf.testing.serve import wait_healthy

__all__ = ["FakeClock", "wait_healthy"]
