"""snapconf: the media core of Webconf and Audioconf.

Layers import downwards only (see ``shared/ARCHITECTURE.md``)::

    cli -> app -> signaling / dialin / api -> conference -> media -> rtp
"""

__version__ = "0.1.0"
