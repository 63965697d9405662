"""snapconf.dialin."""
