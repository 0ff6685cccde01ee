"""The import rules in pyproject.toml hold on this tree and catch each kind of forbidden import:
run `lint-imports` on a copy of the package with one forbidden import planted per rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "src" / "cryptopredict"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module that gains the import, the import, the contract that must break)
PLANTED = [
    (
        "marketdata/router.py",
        "from cryptopredict.tasks import service as _tasks",
        "Layers: entry points, then tasks, then the domains, then core",
    ),
    ("core/pagination.py", "import cryptopredict.coins.service", "core imports no domain"),
    (
        "forecasting/metrics.py",
        "import sqlalchemy",
        "The forecasting core imports neither FastAPI nor SQLAlchemy",
    ),
    (
        "portfolios/service.py",
        "from cryptopredict.coins.repository import CoinRepository",
        "Other domains use coins only through its service, schemas, types, dependencies",
    ),
    (
        "prices/service.py",
        "import cryptopredict.testing.fake_coingecko",
        "The product never imports the test doubles",
    ),
]


def lint_imports(source_root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts, importing the package from `source_root`."""
    env = os.environ | {"PYTHONPATH": str(source_root), "COLUMNS": "500"}
    return subprocess.run(  # noqa: S603 - our own venv's lint-imports, fixed arguments
        [str(LINT_IMPORTS), "--config", str(REPO_ROOT / "pyproject.toml"), "--no-logo"],
        cwd=cache,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_tree_keeps_every_import_contract(tmp_path: Path) -> None:
    result = lint_imports(REPO_ROOT / "src", tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.slow
def test_each_kind_of_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "cryptopredict"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for module, statement, _ in PLANTED:
        path = copy / module
        text = path.read_text(encoding="utf-8")
        anchor = "from __future__ import annotations\n"
        assert anchor in text, module
        path.write_text(text.replace(anchor, f"{anchor}\n{statement}\n", 1), encoding="utf-8")

    result = lint_imports(tmp_path / "src", tmp_path)

    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    for module, _, contract in PLANTED:
        importer = "cryptopredict." + module.removesuffix(".py").replace("/", ".")
        assert f"{contract}" in broken, (contract, result.stdout)
        assert importer in broken, (importer, result.stdout)
