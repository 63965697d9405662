"""snapconf.rtp."""
