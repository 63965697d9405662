"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Tests validate it (openapi-spec-validator) and check every response they get against it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from snapconf.bookings.store import ACCESS_LEVELS

_ref = "#/components/schemas/"


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _ref + schema}}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "The body is not JSON",
        401: "No bearer token, or a wrong one",
        403: "Not allowed",
        404: "No such conference (or another organiser's)",
        409: "The conference is cancelled or has ended (moderation: nobody is in it now)",
        415: "The body is not application/json",
        422: "A field is unknown, missing, of the wrong type or out of range",
    }
    return {str(s): _json("Error", text[s]) for s in statuses}


_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": "Conference id (also its room name)",
}
_PID = {
    "name": "pid",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": "Participant id",
}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

_WRITE_PROPERTIES: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "start": {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601; without an offset, in `timezone`. Not in the past, at most "
        "14 days ahead. Needs `duration_minutes`.",
    },
    "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
    "date": {
        "type": "string",
        "format": "date",
        "description": "A whole day (YYYY-MM-DD) in `timezone`, instead of start and duration",
    },
    "timezone": {"type": "string", "description": "IANA time zone, default Europe/Paris"},
    "max_participants": {"type": "integer", "minimum": 1, "maximum": 50, "default": 50},
    "access": {"type": "string", "enum": list(ACCESS_LEVELS), "default": "public"},
    "lobby": {
        "type": "boolean",
        "default": False,
        "description": "Waiting room: newcomers who are not moderators wait until a "
        "moderator admits them (phones too, hearing 'veuillez patienter')",
    },
    "osmose_url": {"type": ["string", "null"], "format": "uri", "maxLength": 2000},
    "resana_url": {"type": ["string", "null"], "format": "uri", "maxLength": 2000},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "ConferenceCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title"],
        "properties": _WRITE_PROPERTIES,
        "description": "Either `start` with `duration_minutes`, or `date` for a whole day.",
    },
    "ConferenceUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": _WRITE_PROPERTIES,
    },
    "SnapLinks": {
        "type": "object",
        "additionalProperties": False,
        "required": ["tchap", "france_transfert", "osmose", "resana", "maia", "agentconnect"],
        "properties": {
            name: {"type": ["string", "null"]}
            for name in ("tchap", "france_transfert", "osmose", "resana", "maia", "agentconnect")
        },
    },
    "Conference": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "title",
            "status",
            "start",
            "end",
            "timezone",
            "all_day",
            "max_participants",
            "access",
            "osmose_url",
            "resana_url",
            "web_url",
            "dialin_numbers",
            "pin",
            "tel_uri",
            "ics_url",
            "snap_links",
            "created",
        ],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["booked", "cancelled", "ended"]},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "timezone": {"type": "string"},
            "all_day": {"type": "boolean"},
            "max_participants": {"type": "integer"},
            "access": {"type": "string", "enum": list(ACCESS_LEVELS)},
            "lobby": {"type": "boolean"},
            "osmose_url": {"type": ["string", "null"]},
            "resana_url": {"type": ["string", "null"]},
            "web_url": {"type": "string"},
            "dialin_numbers": {"type": "array", "items": {"type": "string"}},
            "pin": {"type": "string", "pattern": "^[0-9]{9}$"},
            "tel_uri": {
                "type": ["string", "null"],
                "description": "tel:+33...,,PIN%23 (the # percent-encoded); null without a "
                "dial-in number",
            },
            "ics_url": {"type": "string"},
            "snap_links": {"$ref": _ref + "SnapLinks"},
            "created": {"type": "string", "format": "date-time"},
        },
    },
    "ConferenceList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": _ref + "Conference"}},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Participant": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "display_name",
            "kind",
            "role",
            "muted",
            "talking",
            "joined_seconds_ago",
        ],
        "properties": {
            "id": {"type": "string"},
            "display_name": {"type": "string"},
            "kind": {"type": "string", "enum": ["browser", "phone", "agent"]},
            "role": {"type": "string", "enum": ["participant", "moderator"]},
            "muted": {"type": "boolean"},
            "talking": {"type": "boolean"},
            "joined_seconds_ago": {"type": "integer", "minimum": 0},
        },
    },
    "ParticipantList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": _ref + "Participant"}}},
    },
    "Mute": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"muted": {"type": "boolean", "default": True}},
    },
    "ModerationState": {
        "type": "object",
        "additionalProperties": False,
        "required": ["locked", "lobby", "waiting"],
        "properties": {
            "locked": {"type": "boolean", "description": "No new joins but moderators"},
            "lobby": {"type": "boolean", "description": "The waiting room is on"},
            "waiting": {
                "type": "array",
                "description": "Who waits in the waiting room, in arrival order",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "display_name", "kind"],
                    "properties": {
                        "id": {"type": "string"},
                        "display_name": {"type": "string"},
                        "kind": {"type": "string", "enum": ["browser", "phone", "agent"]},
                    },
                },
            },
        },
    },
    "ModerationChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"locked": {"type": "boolean"}, "lobby": {"type": "boolean"}},
    },
    "WaiterChoice": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "One waiter; absent: everyone waiting"}
        },
    },
    "WaiterIds": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    "StopVideo": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "source": {
                "type": "string",
                "enum": ["camera", "screen"],
                "description": "Absent: both",
            }
        },
    },
    "Stopped": {
        "type": "object",
        "additionalProperties": False,
        "required": ["stopped"],
        "properties": {"stopped": {"type": "integer", "minimum": 0}},
    },
    "Muted": {
        "type": "object",
        "additionalProperties": False,
        "required": ["muted"],
        "properties": {"muted": {"type": "array", "items": {"type": "string"}}},
    },
    "ChatExport": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "from_id", "from_name", "text", "at"],
                    "properties": {
                        "id": {"type": "string"},
                        "from_id": {"type": "string"},
                        "from_name": {"type": "string"},
                        "text": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            }
        },
    },
    "Role": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "role"],
        "properties": {
            "id": {"type": "string"},
            "role": {"type": "string", "enum": ["participant", "moderator"]},
        },
    },
    "TokenRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "role": {
                "type": "string",
                "enum": ["participant", "moderator"],
                "default": "participant",
            },
            "name": {"type": "string", "minLength": 1, "maxLength": 64},
        },
    },
    "JoinLink": {
        "type": "object",
        "additionalProperties": False,
        "required": ["token", "url", "role", "expires"],
        "properties": {
            "token": {"type": "string"},
            "url": {"type": "string"},
            "role": {"type": "string", "enum": ["participant", "moderator"]},
            "expires": {"type": "string", "format": "date-time"},
        },
    },
    "ApiTokenRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"email": {"type": "string", "maxLength": 254}},
    },
    "ApiToken": {
        "type": "object",
        "additionalProperties": False,
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "const": "Bearer"},
            "expires_in": {"type": "integer"},
        },
    },
    "RoomSummary": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "startsAt", "status"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "startsAt": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": ["open", "not_started", "ended", "cancelled"]},
        },
    },
    "Stats": {
        "type": "object",
        "additionalProperties": False,
        "required": ["conferences", "participants"],
        "properties": {
            "conferences": {
                "type": "object",
                "additionalProperties": False,
                "required": ["active", "booked", "scheduled_now"],
                "properties": {
                    "active": {"type": "integer"},
                    "booked": {"type": "integer"},
                    "scheduled_now": {"type": "integer"},
                },
            },
            "participants": {
                "type": "object",
                "additionalProperties": False,
                "required": ["browser", "phone", "agent", "total"],
                "properties": {
                    k: {"type": "integer"} for k in ("browser", "phone", "agent", "total")
                },
            },
        },
    },
}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": _ref + schema}}},
    }


_LINKED = {
    "GetConference": "getConference",
    "UpdateConference": "updateConference",
    "CancelConference": "cancelConference",
    "ListParticipants": "listParticipants",
    "GetInvitation": "getInvitation",
    "CreateJoinLink": "createJoinLink",
}


def _moderation_paths() -> dict[str, Any]:
    """The organiser's moderation of a live conference (409 ``not_running`` when empty)."""

    def post(
        operation: str,
        summary: str,
        ok: dict[str, Any],
        body: str | None = None,
        params: tuple[dict[str, Any], ...] = (_ID,),
    ) -> dict[str, Any]:
        op: dict[str, Any] = {
            "operationId": operation,
            "summary": summary,
            "security": _BEARER,
            "parameters": list(params),
            "responses": {**ok, **_errors(401, 403, 404, 409)},
        }
        if body is not None:
            op["requestBody"] = _body(body, required=False)
            op["responses"].update(_errors(400, 415, 422))
        return {"post": op}

    state = {"200": _json("ModerationState", "Lock, waiting room and who waits")}
    return {
        "/conferences/{id}/moderation": {
            "get": {
                "operationId": "getModeration",
                "summary": "The live conference's lock and waiting room",
                "security": _BEARER,
                "parameters": [_ID],
                "responses": {**state, **_errors(401, 403, 404, 409)},
            },
            "patch": {
                "operationId": "updateModeration",
                "summary": "Lock or unlock; turn the waiting room on or off (off admits all)",
                "security": _BEARER,
                "parameters": [_ID],
                "requestBody": _body("ModerationChange"),
                "responses": {**state, **_errors(400, 401, 403, 404, 409, 415, 422)},
            },
        },
        "/conferences/{id}/mute-all": post(
            "muteAll",
            "Mute everyone but the moderators",
            {"200": _json("Muted", "Whose microphone was muted")},
        ),
        "/conferences/{id}/end": post(
            "endConference",
            "End the meeting for everyone: pages close, phones are hung up",
            {"204": {"description": "Ended"}},
        ),
        "/conferences/{id}/lobby/admit": post(
            "admitWaiting",
            "Admit one waiter (`id`) or everyone waiting",
            {"200": _json("WaiterIds", "`admitted`: the ids let in")},
            body="WaiterChoice",
        ),
        "/conferences/{id}/lobby/refuse": post(
            "refuseWaiting",
            "Refuse one waiter (`id`) or everyone waiting: each is told `refused`",
            {"200": _json("WaiterIds", "`refused`: the ids turned away")},
            body="WaiterChoice",
        ),
        "/conferences/{id}/participants/{pid}/ask-unmute": post(
            "askToUnmute",
            "Ask a participant to unmute (a notification; never unmutes them)",
            {"204": {"description": "Asked"}},
            params=(_ID, _PID),
        ),
        "/conferences/{id}/participants/{pid}/stop-video": post(
            "stopVideo",
            "Stop forwarding a participant's camera or screen share",
            {"200": _json("Stopped", "How many tracks were stopped")},
            body="StopVideo",
            params=(_ID, _PID),
        ),
        "/conferences/{id}/participants/{pid}/promote": post(
            "promoteParticipant",
            "Make a participant a moderator",
            {"200": _json("Role", "The participant's new role")},
            params=(_ID, _PID),
        ),
    }


def document(server_url: str = "", now: float | None = None) -> dict[str, Any]:
    """The document; ``now`` (epoch seconds) dates the booking example, so that the
    example served is always a valid booking."""
    start = datetime.fromtimestamp((now or time.time()) + 3600, UTC).replace(
        minute=0, second=0, microsecond=0
    )
    create_example = {
        "title": "Point hebdomadaire",
        "start": start.isoformat(),
        "duration_minutes": 60,
        "max_participants": 20,
        "access": "public",
    }
    conference_ops = {
        "get": {
            "operationId": "getConference",
            "summary": "One of your conferences",
            "security": _BEARER,
            "parameters": [_ID],
            "responses": {"200": _json("Conference", "The conference"), **_errors(401, 403, 404)},
        },
        "patch": {
            "operationId": "updateConference",
            "summary": "Change a booked conference",
            "security": _BEARER,
            "parameters": [_ID],
            "requestBody": _body("ConferenceUpdate"),
            "responses": {
                "200": _json("Conference", "The conference as changed"),
                **_errors(400, 401, 403, 404, 409, 415, 422),
            },
        },
        "delete": {
            "operationId": "cancelConference",
            "summary": "Cancel: live calls end and the PIN is freed",
            "description": "The conference stays readable, with status `cancelled`, so "
            "organisers keep their history; cancelling twice is harmless.",
            "security": _BEARER,
            "parameters": [_ID],
            "responses": {"204": {"description": "Cancelled"}, **_errors(401, 403, 404, 409)},
        },
    }
    paths: dict[str, Any] = {
        "/auth/token": {
            "post": {
                "operationId": "createApiToken",
                "summary": "An API bearer token for the signed-in organiser (session cookie), "
                "or for `email` when the development sign-in is enabled",
                "requestBody": _body("ApiTokenRequest", required=False),
                "responses": {
                    "200": _json("ApiToken", "A bearer token"),
                    **_errors(400, 401, 403, 415, 422),
                },
            }
        },
        "/stats": {
            "get": {
                "operationId": "getStats",
                "summary": "Conferences active and booked, participants online by kind",
                "responses": {"200": _json("Stats", "Figures now")},
            }
        },
        "/rooms/{room}": {
            "get": {
                "operationId": "getRoomSummary",
                "summary": "A booked conference's title, start and status, for its room page "
                "before joining (restricted and authenticated ones: with a join token; any "
                "other room: 404 `conference_not_found`)",
                "security": [{}, *_BEARER],
                "parameters": [
                    {
                        "name": "room",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                        "description": "The room's name (a booked conference's id)",
                    }
                ],
                "responses": {
                    "200": _json("RoomSummary", "The conference as its room page shows it"),
                    "401": _json("Error", "Not public, and no valid join token for it"),
                    "404": _json("Error", "No booked conference of this name"),
                },
            }
        },
        "/conferences": {
            "post": {
                "operationId": "createConference",
                "summary": "Book a conference",
                "security": _BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": _ref + "ConferenceCreate"},
                            "example": create_example,
                        }
                    },
                },
                "responses": {
                    "201": {
                        **_json("Conference", "Booked"),
                        "links": {
                            name: {
                                "operationId": operation,
                                "parameters": {"id": "$response.body#/id"},
                            }
                            for name, operation in _LINKED.items()
                        },
                    },
                    **_errors(400, 401, 403, 415, 422),
                },
            },
            "get": {
                "operationId": "listConferences",
                "summary": "Your conferences, soonest first",
                "security": _BEARER,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 1000000000,
                            "default": 0,
                        },
                    },
                ],
                "responses": {
                    "200": _json("ConferenceList", "A page of conferences"),
                    **_errors(401, 403, 422),
                },
            },
        },
        "/conferences/{id}": conference_ops,
        "/conferences/{id}/participants": {
            "get": {
                "operationId": "listParticipants",
                "summary": "Who is in the conference now",
                "security": _BEARER,
                "parameters": [_ID],
                "responses": {
                    "200": _json("ParticipantList", "Participants online"),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/conferences/{id}/participants/{pid}/mute": {
            "post": {
                "operationId": "muteParticipant",
                "summary": "Mute a participant's audio (unmuting is theirs alone: 403)",
                "security": _BEARER,
                "parameters": [_ID, _PID],
                "requestBody": _body("Mute", required=False),
                "responses": {
                    "200": _json("Participant", "The participant"),
                    **_errors(400, 401, 403, 404, 415, 422),
                },
            }
        },
        "/conferences/{id}/participants/{pid}": {
            "delete": {
                "operationId": "removeParticipant",
                "summary": "Remove a participant from the conference; it may not rejoin it "
                "(its token's `sub`, else its address and name; see docs/api.md)",
                "security": _BEARER,
                "parameters": [_ID, _PID],
                "responses": {"204": {"description": "Removed"}, **_errors(401, 403, 404)},
            }
        },
        **_moderation_paths(),
        "/conferences/{id}/chat": {
            "get": {
                "operationId": "exportChat",
                "summary": "The live conference's public chat messages, oldest first "
                "(private ones are never exported; 404 `not_running` when nobody is in)",
                "security": _BEARER,
                "parameters": [_ID],
                "responses": {
                    "200": _json("ChatExport", "The chat"),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/conferences/{id}/invite.ics": {
            "get": {
                "operationId": "getInvitation",
                "summary": "RFC 5545 invitation with the link, number, PIN and tel: link",
                "security": _BEARER,
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "The invitation",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 403, 404),
                },
            }
        },
        "/conferences/{id}/tokens": {
            "post": {
                "operationId": "createJoinLink",
                "summary": "A join link with a signed token, for a participant or a moderator",
                "security": _BEARER,
                "parameters": [_ID],
                "requestBody": _body("TokenRequest", required=False),
                "responses": {
                    "201": _json("JoinLink", "The link"),
                    **_errors(400, 401, 403, 404, 409, 415, 422),
                },
            }
        },
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "snapconf scheduling API",
            "version": "1.0.0",
            "description": "Book conferences, share their link, number and PIN, manage live "
            'participants. Errors are {"error": {"code", "message", "field"}}.',
        },
        "servers": [{"url": (server_url or "") + "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "From POST /auth/token, or an access token of the "
                    "OpenID Connect provider",
                }
            },
        },
    }
    return doc
