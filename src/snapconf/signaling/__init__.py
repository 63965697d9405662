"""WebSocket signaling for browsers and the Python client (docs/signaling.md)."""
