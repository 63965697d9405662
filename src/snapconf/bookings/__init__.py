"""The bookings: booked conferences, their organisers, PINs and lifecycle.

A layer of its own beside the live conferences, under the faces that show it (the REST API
in :mod:`snapconf.api`, the organiser pages in :mod:`snapconf.pages`, the IVR's PIN lookup
in :mod:`snapconf.dialin`):

- ``store`` (SQLite): bookings, organisers, PINs, participant sessions, daily statistics;
- ``policy``: a booking's state (``booking_state``), the admission of joins to booked rooms
  (:class:`StoreAdmission`, a :class:`snapconf.conference.admission.AdmissionPolicy` that
  falls back to the join tokens for ad-hoc rooms) and the PIN directory
  (:class:`StoreDirectory`, a :class:`snapconf.conference.directory.ConferenceDirectory`);
- ``lifecycle``: sessions recorded, conferences ended at their time, e-mails anonymised;
- ``service``: what both faces do (book, cancel, describe, links, invitations), with the
  booking form's validation (``booking``), the invitation (``ics``), the organisers'
  tokens (``tokens``) and OpenID Connect sign-in (``oidc``), and their errors (``errors``).

It imports the conference layer and the join tokens (:mod:`snapconf.auth`), never a face.
"""

from snapconf.bookings.config import ApiConfig, OrganisersConfig, SnapConfig
from snapconf.bookings.policy import StoreAdmission, StoreDirectory, booking_state
from snapconf.bookings.service import Bookings
from snapconf.bookings.store import Booking, Store, StoreConfig

__all__ = [
    "ApiConfig",
    "Booking",
    "Bookings",
    "OrganisersConfig",
    "SnapConfig",
    "Store",
    "StoreAdmission",
    "StoreConfig",
    "StoreDirectory",
    "booking_state",
]
