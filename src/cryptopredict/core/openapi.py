"""The OpenAPI document as the contract: FastAPI's generation, completed with what every
operation shares and no route declares by itself.

- Operation ids are the route functions' names (`get_portfolio`), which links and generated
  clients refer to.
- Every operation that takes a body documents 400 (malformed JSON) and 413 (over the size
  limit); every operation that opens a database session documents 503 (database down).
- Every string parameter and request-body string says, as a `pattern`, that it holds no
  control character (`core.validation`), so a client or a fuzzer knows the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from cryptopredict.core.database import get_session
from cryptopredict.core.errors import error_description

URL_TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
"""A path or query string: no C0 control character, no DEL."""
BODY_TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
"""A request-body string: tab, line feed and carriage return allowed, no other control."""
EDGE_STATUSES = (414, 422, 431)
"""What any native operation may answer before routing: a URL over the limit, a control
character in it (ControlCharacterMiddleware), headers over the limit (RequestLimitsMiddleware);
main.py puts them on the routers, which also brings the error shape into the document."""
BODY_STATUSES = (400, 413)
DATABASE_STATUSES = (503,)


def operation_id(route: APIRoute) -> str:
    """The route function's name: short, stable, and unique across the app (checked by a
    test), unlike FastAPI's default that spells out path and method."""
    return route.name


def install_openapi(app: FastAPI, *, native_prefixes: tuple[str, ...]) -> None:
    """Serve the completed document at /openapi.json. Error statuses are added only to
    paths under `native_prefixes`, whose errors have the one shape; others (the CoinGecko
    mirror) document their own."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            complete(document, _database_operations(app), native_prefixes)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(
    document: dict[str, Any], database_operations: set[str], native_prefixes: tuple[str, ...]
) -> None:
    """Add the shared statuses and text patterns to a generated document, in place."""
    body_components: set[str] = set()
    for path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "cookie":  # the middleware checks the URL, not cookies
                continue
            _add_text_pattern(parameter.get("schema", {}), URL_TEXT_PATTERN, set())
        body = operation.get("requestBody")
        if body is not None:
            for media in body.get("content", {}).values():
                _add_text_pattern(media.get("schema", {}), BODY_TEXT_PATTERN, body_components)
        if not path.startswith(native_prefixes):
            continue
        statuses = (BODY_STATUSES if body is not None else ()) + (
            DATABASE_STATUSES if operation.get("operationId") in database_operations else ()
        )
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses.setdefault(str(status), _error_response(status))
    schemas = document.get("components", {}).get("schemas", {})
    pending = sorted(body_components)
    seen = set(pending)
    while pending:
        name = pending.pop()
        found: set[str] = set()
        _add_text_pattern(schemas.get(name, {}), BODY_TEXT_PATTERN, found)
        for nested in found - seen:
            seen.add(nested)
            pending.append(nested)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            yield path, operation


def _error_response(status: int) -> dict[str, Any]:
    """A response entry in the one error shape (the component every native route's 422
    already refers to)."""
    return {
        "description": error_description(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def _add_text_pattern(schema: dict[str, Any], pattern: str, references: set[str]) -> None:
    """Give every unconstrained string in `schema` the pattern; collect the names of the
    components it refers to (their strings are patched by the caller, once each)."""
    pending = [schema]
    while pending:
        node = pending.pop()
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
            references.add(reference.rsplit("/", 1)[1])
        if node.get("type") == "string" and not {"pattern", "enum", "format", "const"} & set(node):
            node["pattern"] = pattern
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            pending.extend(node.get(key, []))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                pending.append(node[key])
        pending.extend(node.get("properties", {}).values())


def _database_operations(app: FastAPI) -> set[str]:
    """The operation ids of routes that open a database session (directly or through a
    dependency such as the current user)."""
    return {
        operation_id(context.original_route)
        for context in iter_route_contexts(app.router.routes)
        if isinstance(context.original_route, APIRoute)
        and _depends_on(context.original_route.dependant, get_session)
    }


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    pending = [dependant]
    while pending:
        node = pending.pop()
        if node.call is call:
            return True
        pending.extend(node.dependencies)
    return False


def links(
    status_code: int,
    targets: dict[str, str],
    parameters: dict[str, str] | None = None,
    request_body: dict[str, str] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry linking a `status_code` answer to the operations (by id, named by
    link) that use what it returned, filling these path parameters and body fields with
    runtime expressions — how a client, or the fuzzer's stateful phase, goes from a created
    resource (or an issued token) to the calls that use it."""
    link: dict[str, Any] = {"parameters": dict(parameters or {})}
    if request_body is not None:
        link["requestBody"] = dict(request_body)
    return {
        status_code: {
            "links": {name: {"operationId": target, **link} for name, target in targets.items()}
        }
    }
