"""The REST API (``/api/v1``): a face over the bookings and the live conferences."""
