"""Fakes shared by the tests: a clock that only moves when told to."""

from snapconf.testing.clock import FakeClock

__all__ = ["FakeClock"]
