"""How the OpenAPI document states the stream: an event stream for 200, each event's shape
as Open API 3.1 readers (schemathesis) take it, and errors in the one JSON shape."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cryptopredict.main import create_app

OPERATION = create_app().openapi()["paths"]["/api/v1/stream"]["get"]


def test_200_is_an_event_stream_of_the_documented_events() -> None:
    content = OPERATION["responses"]["200"]["content"]
    event = content["text/event-stream"]["schema"]

    assert list(content) == ["text/event-stream"]
    assert event["properties"]["event"]["enum"] == ["price", "forecast", "missed"]
    assert event["required"] == ["event", "data"]
    assert re.fullmatch(event["properties"]["id"]["pattern"], "1717171717171-0")


def test_errors_are_json_and_public_operations_need_no_token() -> None:
    for status in ("414", "422", "431"):
        assert list(OPERATION["responses"][status]["content"]) == ["application/json"]
    assert "401" not in OPERATION["responses"]
    assert {parameter["name"] for parameter in OPERATION["parameters"]} == {
        "coins",
        "last_event_id",
        "timeout",
    }


def test_malformed_input_is_a_422_in_the_one_shape(client: TestClient) -> None:
    for params, headers, loc in (
        ({"coins": "bitcoin,,ethereum"}, {}, ["query", "coins"]),
        ({"coins": ""}, {}, ["query", "coins"]),
        ({"last_event_id": "12"}, {}, ["query", "last_event_id"]),
        ({}, {"Last-Event-ID": "1-2-3"}, ["header", "Last-Event-ID"]),
        ({"timeout": "-1"}, {}, ["query", "timeout"]),
        ({"timeout": "nan"}, {}, ["query", "timeout"]),
    ):
        response = client.get("/api/v1/stream", params=params, headers=headers)

        assert response.status_code == 422, (params, headers, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert response.json()["error"]["details"][0]["loc"] == loc


def test_a_poll_sends_the_retry_and_the_proxy_headers(client: TestClient) -> None:
    response = client.get("/api/v1/stream", params={"timeout": "0", "coins": "Bitcoin"})

    assert response.status_code == 200
    assert response.text == "retry: 3000\n\n"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-content-type-options"] == "nosniff"
