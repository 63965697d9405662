"""snapconf.signaling."""
