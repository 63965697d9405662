"""snapconf.media."""
