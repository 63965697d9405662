"""snapconf: the media core of Webconf and Audioconf.

Layers import downwards only (``docs/architecture.md``; ``lint-imports`` checks it)::

    cli -> app -> metrics -> signaling | dialin | api | pages -> bookings -> auth
        -> conference -> media -> rtp
"""

__version__ = "0.1.0"
