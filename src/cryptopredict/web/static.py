"""Serving the dashboard's static export (`frontend/out`, built by Next.js) at `/`.

It answers only requests no API route takes, and never under the paths the API owns, so
`/api`, `/docs`, `/openapi.json`, `/health` and `/metrics` behave as without it. A file of
the export is sent with its cache policy: the content-hashed assets under `/_next/static/`
are immutable, everything else is revalidated on every load. A page path the export has no
file for (no extension in its last segment) gets the app's shell, whose router draws it
(client-side routes); anything else is the API's 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

API_PATHS = ("/api", "/docs", "/redoc", "/openapi.json", "/health", "/metrics")
"""Path prefixes the API owns: a request under them never reaches the export."""
HASHED_ASSETS = "/_next/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHELL = "index.html"


def checkout_export() -> Path:
    """Where `make run` builds the export: `frontend/out` beside `src/` in the checkout."""
    return Path(__file__).resolve().parents[3] / "frontend" / "out"


def _owned_by_api(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PATHS)


class DashboardFiles:
    """The router's answer when no route matches: a file of the export, the app's shell for
    a client-side route, or `fallback` (the API's slash redirect or 404)."""

    def __init__(self, root: Path, fallback: ASGIApp) -> None:
        self.root = root.resolve()
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            found = self.find(scope["path"])
            if found is not None:
                path, cache_control = found
                response = FileResponse(path, headers={"cache-control": cache_control})
                await response(scope, receive, send)
                return
        await self.fallback(scope, receive, send)

    def find(self, url_path: str) -> tuple[Path, str] | None:
        """The file that answers `url_path` and its Cache-Control, or None."""
        if _owned_by_api(url_path):
            return None
        parts = [part for part in url_path.split("/") if part]
        if any(part in (".", "..") or "\\" in part or "\x00" in part for part in parts):
            return None
        policy = IMMUTABLE if url_path.startswith(HASHED_ASSETS) else REVALIDATE
        base = self.root.joinpath(*parts)
        candidates = (
            [base, base.with_name(base.name + ".html"), base / SHELL] if parts else [base / SHELL]
        )
        for candidate in candidates:
            if self._inside(candidate):
                return candidate, policy
        if parts and "." in parts[-1]:
            return None  # a missing asset, not a page
        shell = self.root / SHELL
        return (shell, REVALIDATE) if self._inside(shell) else None

    def _inside(self, candidate: Path) -> bool:
        """A regular file of the export (a link may not lead out of it)."""
        return candidate.is_file() and candidate.resolve().is_relative_to(self.root)
