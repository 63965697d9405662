"""snapconf.client."""
