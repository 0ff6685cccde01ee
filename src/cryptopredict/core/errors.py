"""The one error tree, and the handlers that turn every failure into one JSON shape.

AppError                      -> {"error": {"code", "message", "details"}}
├── BadRequestError           400 bad_request
├── AuthenticationError       401 not_authenticated (WWW-Authenticate: Bearer)
├── PermissionDeniedError     403 permission_denied
├── NotFoundError             404 not_found
├── ConflictError             409 conflict
├── PayloadTooLargeError      413 payload_too_large
├── UriTooLongError           414 uri_too_long
├── ValidationFailedError     422 validation_error
├── RateLimitedError          429 rate_limited (Retry-After)
├── HeaderFieldsTooLargeError 431 request_header_fields_too_large
└── ServiceUnavailableError   503 service_unavailable

ControlCharacterError         422 validation_error (an HTTPException, raised while a body is read)

Routes under a prefix of their own (the CoinGecko mirror) spell errors their way: an
`ErrorShape` per prefix in one `ErrorShapes` mapping, which every error path consults (these
handlers, the middleware's refusals and the HTTP protocol's in `core.http_protocol`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cryptopredict.core.routing import allowed_methods
from cryptopredict.core.validation import Loc

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error a client may see; carries its HTTP status and stable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequestError(AppError):
    """The request is understood but cannot be carried out as asked."""

    status_code = 400
    code = "bad_request"


class AuthenticationError(AppError):
    """Missing, invalid or expired credentials."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Not authenticated", *, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"WWW-Authenticate": "Bearer"})


class PermissionDeniedError(AppError):
    """Authenticated, but not allowed to do this."""

    status_code = 403
    code = "permission_denied"


class NotFoundError(AppError):
    """The addressed resource does not exist (or is not the caller's to see)."""

    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    """The request clashes with existing state (a duplicate, say)."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(AppError):
    """The request body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class UriTooLongError(AppError):
    """The request target (path and query) is longer than the configured limit."""

    status_code = 414
    code = "uri_too_long"


class ValidationFailedError(AppError):
    """Input is well-formed but breaks a business rule."""

    status_code = 422
    code = "validation_error"


class RateLimitedError(AppError):
    """Too many attempts; retry after the given number of seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(
            message,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(max(1, retry_after))},
        )


class HeaderFieldsTooLargeError(AppError):
    """The request's header section is larger than the configured limit."""

    status_code = 431
    code = "request_header_fields_too_large"


class ServiceUnavailableError(AppError):
    """A backing service (database, Redis) cannot be reached right now."""

    status_code = 503
    code = "service_unavailable"


class ControlCharacterError(StarletteHTTPException):
    """A request body holds a character the API refuses (`core.validation`); an HTTPException
    because FastAPI's body parsing passes only those through to the handlers."""

    def __init__(self, loc: Sequence[str | int]) -> None:
        super().__init__(422, "Request validation failed")
        self.loc = list(loc)


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "request_header_fields_too_large",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    """The inside of an error response."""

    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every non-2xx response has this body."""

    error: ErrorDetail


def error_description(status_code: int) -> str:
    """The stable code of an error status, as its OpenAPI description."""
    return _STATUS_CODES.get(status_code, "error")


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the common error shape for these statuses."""
    return {
        code: {"model": ErrorResponse, "description": error_description(code)}
        for code in status_codes
    }


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The single JSON error shape used across the API."""
    return {"error": {"code": code, "message": message, "details": details}}


def control_character_body(loc: Sequence[str | int]) -> dict[str, Any]:
    """The 422 for a control character, shaped like a validation error (never echoing it)."""
    detail = {
        "loc": list(loc),
        "msg": "Control characters are not allowed",
        "type": "control_character",
    }
    return error_body("validation_error", "Request validation failed", [detail])


ErrorBody = Callable[[int, str, str, Any], dict[str, Any]]
"""The JSON body for an error's status, stable code, message and details."""
Refusal = Callable[[Loc], tuple[int, dict[str, Any]]]
"""The status and JSON body that refuse a control character at a location in the URL."""


def _api_error_body(_status: int, code: str, message: str, details: Any) -> dict[str, Any]:
    return error_body(code, message, details)


def _api_control_character(loc: Loc) -> tuple[int, dict[str, Any]]:
    return 422, control_character_body(loc)


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How the routes under one prefix spell an error: any error, and a control character
    in the URL (which an API may answer with a status of its own)."""

    body: ErrorBody
    control_character: Refusal

    def for_error(self, error: AppError) -> tuple[int, dict[str, Any]]:
        """The status and body answering an `AppError`."""
        return error.status_code, self.body(
            error.status_code, error.code, error.message, error.details
        )

    def for_status(self, status: int, message: str) -> dict[str, Any]:
        """The body answering a bare HTTP status, such as the framework's 404 and 405."""
        return self.body(status, _STATUS_CODES.get(status, "http_error"), message, None)


API_ERRORS = ErrorShape(body=_api_error_body, control_character=_api_control_character)
"""The one JSON error shape."""


@dataclass(frozen=True)
class ErrorShapes:
    """The error shape of each path prefix (a prefix ending in "/" also covers the path
    without it); every other path answers in the one JSON shape."""

    prefixes: Mapping[str, ErrorShape] = field(default_factory=dict)

    def for_path(self, path: str) -> ErrorShape:
        """The shape errors on this path are answered in."""
        for prefix, shape in self.prefixes.items():
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return shape
        return API_ERRORS


def _json_safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic error entries without unserialisable context objects or echoed input."""
    cleaned = []
    for entry in exc.errors():
        item = {
            "loc": list(entry.get("loc", ())),
            "msg": entry.get("msg"),
            "type": entry.get("type"),
        }
        cleaned.append(item)
    return cleaned


def _is_connection_failure(exc: DBAPIError) -> bool:
    """Distinguish 'database is down' from a bad statement."""
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


def install_error_handlers(app: FastAPI, shapes: ErrorShapes | None = None) -> None:
    """Register the handlers so every error leaves in the shape of its path (`shapes`)."""
    shapes = shapes or ErrorShapes()

    def answer(request: Request, error: AppError) -> JSONResponse:
        status, body = shapes.for_path(request.scope["path"]).for_error(error)
        return JSONResponse(body, status_code=status, headers=error.headers)

    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
        return answer(request, exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = _json_safe_validation_errors(exc)
        shape = shapes.for_path(request.scope["path"])
        if any(e["type"] == "json_invalid" for e in errors):
            body = shape.body(400, "malformed_json", "Request body is not valid JSON", errors)
            return JSONResponse(body, status_code=400)
        return answer(request, ValidationFailedError("Request validation failed", details=errors))

    async def control_character(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ControlCharacterError)  # noqa: S101
        status, body = shapes.for_path(request.scope["path"]).control_character(tuple(exc.loc))
        return JSONResponse(body, status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route of the path that matched; name them all.
            methods = allowed_methods(request.app.router.routes, request.scope)
            if methods:
                headers["Allow"] = ", ".join(methods)
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=headers)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        body = shapes.for_path(request.scope["path"]).for_status(exc.status_code, message)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.error("database unavailable: %s", type(exc).__name__)
        error = ServiceUnavailableError("The database is unavailable; try again shortly")
        error.headers["Retry-After"] = "5"
        return answer(request, error)

    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return answer(request, AppError("Internal server error"))

    async def dbapi_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)  # noqa: S101
        if _is_connection_failure(exc):
            return await database_unavailable(request, exc)
        return await unhandled(request, exc)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ControlCharacterError, control_character)
    app.add_exception_handler(PoolTimeoutError, database_unavailable)
    app.add_exception_handler(DBAPIError, dbapi_error)
    app.add_exception_handler(Exception, unhandled)
