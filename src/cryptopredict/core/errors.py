"""The one error tree, and the handlers that turn every failure into one JSON shape.

AppError                      -> {"error": {"code", "message", "details"}}
├── BadRequestError           400 bad_request
├── AuthenticationError       401 not_authenticated (WWW-Authenticate: Bearer)
├── PermissionDeniedError     403 permission_denied
├── NotFoundError             404 not_found
├── ConflictError             409 conflict
├── PayloadTooLargeError      413 payload_too_large
├── ValidationFailedError     422 validation_error
├── RateLimitedError          429 rate_limited (Retry-After)
└── ServiceUnavailableError   503 service_unavailable

ControlCharacterError         422 validation_error (an HTTPException, raised while a body is read)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
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


async def _app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = _json_safe_validation_errors(exc)
    malformed = any(e["type"] == "json_invalid" for e in errors)
    if malformed:
        return JSONResponse(
            error_body("malformed_json", "Request body is not valid JSON", errors), status_code=400
        )
    return JSONResponse(
        error_body("validation_error", "Request validation failed", errors), status_code=422
    )


async def _control_character_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlCharacterError)  # noqa: S101
    return JSONResponse(control_character_body(exc.loc), status_code=422)


async def _http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def _database_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        error_body("service_unavailable", "The database is unavailable; try again shortly"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unhandled_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "Internal server error"), status_code=500)


def _is_connection_failure(exc: DBAPIError) -> bool:
    """Distinguish 'database is down' from a bad statement."""
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


async def _dbapi_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)  # noqa: S101
    if _is_connection_failure(exc):
        return await _database_error_handler(request, exc)
    return await _unhandled_error_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers so every error leaves in the common shape."""
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(ControlCharacterError, _control_character_handler)
    app.add_exception_handler(PoolTimeoutError, _database_error_handler)
    app.add_exception_handler(DBAPIError, _dbapi_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)
