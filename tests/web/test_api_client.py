"""The dashboard's typed API client is generated from the server's OpenAPI document; when a
route or schema changes and nobody regenerated it, this fails (and says how to mend it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
COMMITTED = FRONTEND / "src" / "lib" / "api" / "schema.d.ts"


def test_the_committed_api_client_matches_the_servers_openapi(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed: the dashboard's API client is generated with it"
    assert (FRONTEND / "node_modules" / "openapi-typescript").is_dir(), (
        "run `make web` (npm ci in frontend/) first"
    )
    generated = tmp_path / "schema.d.ts"
    # As `npm run api:generate` runs it: the checkout's `cryptopredict openapi`, default settings.
    clean_env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    subprocess.run(  # noqa: S603 - our own script
        [node, "scripts/generate-api.mjs", "--output", str(generated)],
        cwd=FRONTEND,
        env=clean_env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    assert generated.read_text() == COMMITTED.read_text(), (
        "frontend/src/lib/api/schema.d.ts is out of date: run `npm run api:generate` in frontend/"
    )


def test_the_check_notices_a_changed_schema(tmp_path: Path) -> None:
    """The comparison is not vacuous: a document with one more route generates other types."""
    node = shutil.which("node")
    assert node
    document = tmp_path / "openapi.json"
    listed = subprocess.run(  # noqa: S603 - our own command
        [str(FRONTEND.parent / ".venv" / "bin" / "python"), "-m", "cryptopredict.cli", "openapi"],
        env={**os.environ, "PYTHONPATH": str(FRONTEND.parent / "src")},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    document.write_text(listed.replace('"/health/live"', '"/health/alive"', 1))
    generated = tmp_path / "schema.d.ts"
    subprocess.run(  # noqa: S603 - our own script
        [node, "scripts/generate-api.mjs", "--input", str(document), "--output", str(generated)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert '"/health/alive"' in generated.read_text()
    assert generated.read_text() != COMMITTED.read_text()
