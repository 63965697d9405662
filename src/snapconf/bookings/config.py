"""Settings of the scheduling API, the organiser sign-in and the SNAP links."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ApiConfig:
    """Booked conferences and their API (section ``[api]``)."""

    #: base URL written in links and invitations; empty: taken from each request's Host
    public_url: str = ""
    #: dial-in numbers in international form (spaces allowed), first one used for tel: links
    dialin_numbers: list[str] = field(default_factory=list)
    #: key signing API bearer tokens, join tokens and organiser sessions (HS256); empty:
    #: a random key per start, so tokens and sessions end at restart (logged)
    token_secret: str = ""
    #: lifetime of an API bearer token, in seconds
    api_token_ttl: float = 28800.0
    #: longest conference, in minutes
    max_duration_minutes: int = 1440
    #: how far ahead a conference may be booked, in days
    max_days_ahead: int = 14
    #: the most participants a booked conference may have (also the default)
    max_participants: int = 50
    #: time zone of bookings that name none
    timezone: str = "Europe/Paris"
    #: rooms that are not booked conferences may still be joined by name
    adhoc_rooms: bool = True
    #: seconds before its start that a conference opens
    open_before: float = 900.0
    #: seconds live calls are given after the end before they are ended
    end_grace: float = 300.0
    #: days after the end when organisers' e-mail addresses are anonymised
    anonymise_after_days: int = 30
    #: seconds between lifecycle passes (sessions, endings, anonymisation)
    lifecycle_interval: float = 5.0


@dataclass(slots=True)
class OrganisersConfig:
    """Organiser sign-in (section ``[organisers]``)."""

    #: a sign-in form that trusts the e-mail typed in; for a laptop only, never in production.
    #: Off unless enabled, and even then refused to requests whose TCP peer is not loopback
    dev_login: bool = False
    #: e-mail domains allowed to sign in (a domain also allows its subdomains); empty: any
    allowed_domains: list[str] = field(default_factory=list)
    #: OpenID Connect issuer (AgentConnect / ProConnect); empty: no OIDC sign-in
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email"
    #: seconds an organiser stays signed in
    session_ttl: float = 43200.0


@dataclass(slots=True)
class SnapConfig:
    """Links to the State's digital backpack (section ``[snap]``). Each is a URL template
    with ``{url}``, ``{title}``, ``{text}`` (an invitation text), ``{pin}``, ``{id}``,
    ``{osmose_url}`` and ``{resana_url}`` (URL-encoded, except the two space URLs); an empty
    template hides the link."""

    tchap: str = "https://www.tchap.gouv.fr/#/share?text={text}"
    france_transfert: str = "https://francetransfert.numerique.gouv.fr/upload"
    osmose: str = "{osmose_url}"
    resana: str = "{resana_url}"
    maia: str = "https://maia.numerique.gouv.fr/"
    agentconnect: str = "https://agentconnect.gouv.fr/"
