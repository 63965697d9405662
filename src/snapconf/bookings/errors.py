"""API errors: each answers ``{"error": {"code", "message", "field"}}`` with its status.

::

    ApiError                 status  code
    ├── BadRequest           400     bad_json
    ├── Unauthorised         401     auth_required | auth_invalid
    ├── Forbidden            403     forbidden
    ├── NotFound             404     not_found
    ├── Conflict             409     conflict | conference_cancelled | conference_ended
    ├── UnsupportedMediaType 415     unsupported_media_type
    └── Invalid              422     unknown_field | invalid_type | invalid_value | missing_field
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return web.json_response(self.body(), status=self.status, headers=headers)


class BadRequest(ApiError):
    status = 400
    code = "bad_json"


class Unauthorised(ApiError):
    status = 401
    code = "auth_required"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Invalid(ApiError):
    status = 422
    code = "invalid_value"
