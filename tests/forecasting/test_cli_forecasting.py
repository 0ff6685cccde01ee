"""`cryptopredict backtest` and `cryptopredict train` from CSV files, as a user runs them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cryptopredict.cli.app import app
from cryptopredict.core.database import create_db_engine
from cryptopredict.forecasting.models import ModelStatus, ModelVersion
from cryptopredict.forecasting.training import REPORT_FIELDS
from tests.conftest import TEST_SECRET
from tests.forecasting.test_training import price_frame, random_walk_closes


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    """Two small coins in the format of shared/data/prices."""
    folder = tmp_path / "prices"
    folder.mkdir()
    for coin, seed in (("alpha", 1), ("beta", 2)):
        frame = price_frame(random_walk_closes(320, seed=seed))
        frame.index = frame.index.strftime("%Y-%m-%d")
        frame.assign(open=frame["close"], high=frame["close"], low=frame["close"], market_cap="")[
            ["open", "high", "low", "close", "volume", "market_cap"]
        ].to_csv(folder / f"{coin}.csv", index_label="date")
    return folder


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, level, alembic_level = list(root.handlers), root.level, alembic.level
    yield {
        "CRYPTOPREDICT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CRYPTOPREDICT_DATA_DIR": str(tmp_path / "data"),
        "CRYPTOPREDICT_MODEL_DIR": str(tmp_path / "models"),
        "CRYPTOPREDICT_SECRET_KEY": TEST_SECRET,
        "CRYPTOPREDICT_LOG_LEVEL": "WARNING",
    }
    root.handlers[:] = handlers
    root.setLevel(level)
    alembic.setLevel(alembic_level)


def test_backtest_from_csv_writes_report_and_chart(
    tmp_path: Path, csv_dir: Path, env: dict[str, str]
) -> None:
    report = tmp_path / "out" / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--coins",
            "alpha,beta",
            "--horizons",
            "1,7",
            "--models",
            "naive,drift",
            "--csv-dir",
            str(csv_dir),
            "--report",
            str(report),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(report.read_text())
    rows = payload["results"]
    assert {(r["coin"], r["horizon"], r["model"]) for r in rows} == {
        (c, h, m) for c in ("alpha", "beta") for h in (1, 7) for m in ("naive", "drift")
    }
    for row in rows:
        assert set(REPORT_FIELDS) <= set(row)
        assert row["n_forecasts"] > 0
    for coin in ("alpha", "beta"):
        for horizon in (1, 7):
            chosen = [
                r for r in rows if (r["coin"], r["horizon"], r["selected"]) == (coin, horizon, True)
            ]
            assert len(chosen) == 1
    assert report.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "cli.db").exists()  # --csv-dir needs no database


def test_backtest_refuses_unknown_models_and_missing_files(
    csv_dir: Path, env: dict[str, str]
) -> None:
    runner = CliRunner()
    unknown = runner.invoke(
        app,
        ["backtest", "--coins", "alpha", "--models", "oracle", "--csv-dir", str(csv_dir)],
        env=env,
    )
    assert unknown.exit_code == 2
    assert "oracle" in unknown.output
    missing = runner.invoke(
        app, ["backtest", "--coins", "gamma", "--csv-dir", str(csv_dir)], env=env
    )
    assert missing.exit_code == 2
    assert "gamma.csv" in missing.output


def test_train_from_csv_registers_and_promotes(
    tmp_path: Path, csv_dir: Path, env: dict[str, str]
) -> None:
    args = ["train", "--coin", "alpha", "--horizon", "1", "--horizon", "7", "--models", "drift"]
    result = CliRunner().invoke(app, [*args, "--csv-dir", str(csv_dir)], env=env)
    assert result.exit_code == 0, result.output
    engine = create_db_engine(env["CRYPTOPREDICT_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    ModelVersion.kind,
                    ModelVersion.horizon,
                    ModelVersion.status,
                    ModelVersion.artifact_path,
                )
            ).all()
    finally:
        engine.dispose()
    assert {(kind, horizon) for kind, horizon, _, _ in rows} == {
        (k, h) for k in ("naive", "drift") for h in (1, 7)
    }
    production = [r for r in rows if r.status == ModelStatus.PRODUCTION]
    assert sorted(r.horizon for r in production) == [1, 7]
    for row in rows:
        assert (tmp_path / "models" / row.artifact_path / "manifest.json").is_file()
