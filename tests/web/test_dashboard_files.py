"""The dashboard's static export served at `/`: its files with their cache policy, the app's
shell for client-side routes, and the API's own paths exactly as without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database
from cryptopredict.main import create_app
from cryptopredict.web.static import IMMUTABLE, REVALIDATE

ASSET = "/_next/static/chunks/app-4f2a9c.js"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A small export as Next.js writes one: the shell, pages, a hashed asset, an icon."""
    root = tmp_path / "out"
    files = {
        "index.html": "<html>shell</html>",
        "markets.html": "<html>markets</html>",
        "coin/index.html": "<html>coin</html>",
        ASSET.lstrip("/"): "console.log('app')",
        "favicon.ico": "icon",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    (tmp_path / "secret.txt").write_text("outside the export")
    (root / "leak.html").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def web(settings: Settings, app_database: Database, export: Path) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"web_dir": export}), database=app_database)
    with TestClient(app) as client:
        yield client


def test_files_are_served_with_their_cache_policy(web: TestClient) -> None:
    for path, body in (
        ("/", "<html>shell</html>"),
        ("/markets", "<html>markets</html>"),
        ("/markets.html", "<html>markets</html>"),
        ("/coin", "<html>coin</html>"),
        ("/coin/", "<html>coin</html>"),
        ("/favicon.ico", "icon"),
    ):
        response = web.get(path)
        assert (response.status_code, response.text) == (200, body), path
        assert response.headers["cache-control"] == REVALIDATE, path
    asset = web.get(ASSET)
    assert asset.status_code == 200 and asset.headers["cache-control"] == IMMUTABLE
    assert "javascript" in asset.headers["content-type"]
    assert web.head("/markets").status_code == 200


def test_client_side_routes_get_the_shell_and_missing_assets_a_404(web: TestClient) -> None:
    for route in ("/portfolio", "/admin/tasks", "/coin/bitcoin"):
        response = web.get(route)
        assert (response.status_code, response.text) == (200, "<html>shell</html>"), route
    missing = web.get("/_next/static/chunks/gone.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_nothing_outside_the_export_is_reachable(web: TestClient) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/leak.html", "/coin/..%2F..%2Fs.txt"):
        response = web.get(path)
        assert "outside the export" not in response.text, path


def test_the_apis_paths_answer_as_without_the_dashboard(web: TestClient) -> None:
    assert web.get("/health/live").json()["status"] == "ok"
    assert web.get("/openapi.json").json()["info"]["title"] == "CryptoPredict"
    assert "swagger" in web.get("/docs").text.lower()
    for path in ("/api/v1/nope", "/api", "/health/nope", "/metrics/x"):
        response = web.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found", path
    assert web.post("/markets").status_code in (404, 405)
    assert "/" not in web.get("/openapi.json").json()["paths"]


def test_without_an_export_root_is_the_apis_404(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
