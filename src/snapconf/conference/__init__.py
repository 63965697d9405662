"""snapconf.conference."""
