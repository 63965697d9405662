"""The scheduling API (``/api/v1``), its admission of joins and the conference lifecycle."""

from snapconf.api.config import ApiConfig, OrganisersConfig, SnapConfig

__all__ = ["ApiConfig", "OrganisersConfig", "SnapConfig"]
