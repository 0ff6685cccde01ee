"""The OpenAPI document states the rules every operation shares (core/openapi.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cryptopredict.core.openapi import BODY_TEXT_PATTERN, URL_TEXT_PATTERN
from cryptopredict.core.validation import json_loc, url_loc
from cryptopredict.main import create_app

DOCUMENT = create_app().openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]
NATIVE = [op for op in OPERATIONS if not op[1].startswith("/api/v3/")]


def _schemas(node: Any) -> list[dict[str, Any]]:
    """Every schema object under `node`, components followed by reference."""
    found: list[dict[str, Any]] = []
    pending, seen = [node], set()
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                pending.append(DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]])
            if "type" in item:
                found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def test_operation_ids_are_the_route_names_and_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(ids) == len(set(ids))
    assert {"get_portfolio", "list_task_runs", "system_stats", "coins_ohlc"} <= set(ids)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, o in NATIVE if "requestBody" in o])
def test_operations_with_a_body_document_malformed_and_oversized_bodies(
    method: str, path: str
) -> None:
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert {"400", "413"} <= set(responses)


def test_database_backed_operations_document_503_and_others_do_not() -> None:
    without = {p for m, p, o in NATIVE if "503" not in o["responses"]}
    assert without == {"/health/live", "/api/v1/system/version", "/api/v1/stream"}


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_free_string_states_the_control_character_rule(method: str, path: str) -> None:
    """Every string in the URL or a body; cookies are not in the URL, so the rule is not theirs
    (logging out takes any cookie value at all)."""
    operation = DOCUMENT["paths"][path][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "cookie":
            continue
        for schema in _schemas(parameter["schema"]):
            if schema["type"] == "string" and not {"enum", "format", "const"} & set(schema):
                assert "pattern" in schema, (parameter["name"], schema)
    for schema in _schemas(operation.get("requestBody", {})):
        if schema["type"] == "string" and not {"enum", "format", "const"} & set(schema):
            assert "pattern" in schema, schema


@pytest.mark.parametrize("code", range(0x80))
def test_the_stated_patterns_match_what_the_server_refuses(code: int) -> None:
    text = f"a{chr(code)}b"
    url_refused = url_loc(f"/x/{text}", b"") is not None
    body_refused = json_loc(json.dumps({"name": text}).encode()) is not None

    assert (re.fullmatch(URL_TEXT_PATTERN, text) is None) == url_refused
    assert (re.fullmatch(BODY_TEXT_PATTERN, text) is None) == body_refused


def test_links_name_real_operations_and_their_path_parameters() -> None:
    by_id = {o["operationId"]: (p, o) for _, p, o in OPERATIONS}
    links = [
        link
        for _, _, operation in OPERATIONS
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    targets = {link["operationId"] for link in links}
    assert {"get_portfolio", "get_transaction", "login", "refresh", "logout"} <= targets
    for link in links:
        path, _ = by_id[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"\{(\w+)\}", path))


def test_cookies_do_not_claim_the_url_rule() -> None:
    """The middleware refuses control characters in the URL only: a cookie's declared form is
    its own (the refresh cookie's token alphabet), never the URL's pattern."""
    cookies = [
        parameter
        for _, _, operation in OPERATIONS
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "cookie"
    ]
    assert cookies, "the browser session routes take the refresh cookie"
    for parameter in cookies:
        patterns = {schema.get("pattern") for schema in _schemas(parameter["schema"])}
        assert URL_TEXT_PATTERN not in patterns, parameter
