"""The model registry: artifacts round-trip, corrupted or escaping artifacts are refused,
versions count up and promoting one archives the previous production version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.forecasting import registry
from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    training_rows,
)
from cryptopredict.forecasting.models import ModelStatus, ModelVersion
from cryptopredict.forecasting.repository import ModelVersionRepository
from tests.factories import Factory

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class MeanReturn(Forecaster):
    """The smallest real model: the mean training log return per horizon."""

    kind = "mean-test"

    def __init__(self, horizons: tuple[int, ...] = (1, 7), shrink: float = 1.0) -> None:
        super().__init__(horizons)
        self.shrink = shrink

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "shrink": self.shrink}

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        end = len(data) if end is None else end
        means = []
        for horizon in self.horizons:
            rows = training_rows(data, end, horizon)
            means.append(float(np.mean(data.targets[rows, data.horizon_column(horizon)])))
        self.means_ = np.asarray(means) * self.shrink
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        self._check_fitted()
        return np.tile(self.means_, (len(origins), 1))

    def save(self, directory: Path) -> list[Path]:
        params = self._write_params(directory, n=len(self.horizons))
        weights = directory / "state" / "means.npz"
        weights.parent.mkdir(parents=True, exist_ok=True)
        with weights.open("wb") as handle:
            np.savez(handle, means=self.means_)
        return [params, weights]

    @classmethod
    def load(cls, directory: Path) -> Self:
        params, _state = cls._read_params(directory)
        model = cls(horizons=tuple(params["horizons"]), shrink=params["shrink"])
        with np.load(directory / "state" / "means.npz", allow_pickle=False) as arrays:
            model.means_ = arrays["means"]
        model.fitted_ = True
        return model


CLASSES: dict[str, type[Forecaster]] = {MeanReturn.kind: MeanReturn}


def _data(n: int = 120, horizons: tuple[int, ...] = (1, 7)) -> ForecastData:
    rng = np.random.default_rng(7)
    log_price = np.cumsum(rng.normal(0.001, 0.02, n)) + 5.0
    targets = np.full((n, len(horizons)), np.nan)
    for j, h in enumerate(horizons):
        targets[: n - h, j] = log_price[h:] - log_price[:-h]
    return ForecastData(
        index=pd.date_range(START, periods=n, freq="D"),
        log_price=log_price,
        features=np.empty((n, 0)),
        feature_names=(),
        targets=targets,
        horizons=horizons,
    )


@pytest.fixture
def fitted() -> MeanReturn:
    return MeanReturn(shrink=0.5).fit(_data())


@pytest.fixture
def saved(tmp_path: Path, fitted: MeanReturn) -> registry.SavedArtifact:
    relative = registry.artifact_path(
        coin="bitcoin", interval="1d", horizon=7, kind=fitted.kind, version=1
    )
    return registry.save_artifact(fitted, tmp_path, relative, metadata={"coin": "bitcoin"})


# ---- files --------------------------------------------------------------------------------


def test_artifact_round_trip(
    tmp_path: Path, fitted: MeanReturn, saved: registry.SavedArtifact
) -> None:
    assert saved.path == "bitcoin/1d/h7/mean-test/v1"
    assert saved.files == ("params.json", "state/means.npz")
    manifest = json.loads((tmp_path / saved.path / registry.MANIFEST_FILE).read_text())
    assert manifest["metadata"] == {"coin": "bitcoin"}
    assert set(manifest["files"]) == set(saved.files)

    loaded = registry.load_artifact(tmp_path, saved.path, saved.sha256, classes=CLASSES)
    assert isinstance(loaded, MeanReturn)
    assert loaded.get_params() == fitted.get_params()
    origins = np.array([10, 50], dtype=np.int64)
    np.testing.assert_array_equal(
        loaded.predict(_data(), origins), fitted.predict(_data(), origins)
    )
    # No staging folders are left behind.
    assert [p.name for p in (tmp_path / "bitcoin/1d/h7/mean-test").iterdir()] == ["v1"]


def test_a_version_is_never_rewritten(
    tmp_path: Path, fitted: MeanReturn, saved: registry.SavedArtifact
) -> None:
    with pytest.raises(registry.RegistryError, match="exists already"):
        registry.save_artifact(fitted, tmp_path, saved.path)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: (d / "params.json").write_text("{}"), id="file-edited"),
        pytest.param(lambda d: (d / "state" / "means.npz").unlink(), id="file-missing"),
        pytest.param(lambda d: (d / "extra.pkl").write_bytes(b"\x80\x04."), id="file-added"),
        pytest.param(
            lambda d: (d / registry.MANIFEST_FILE).write_text(
                (d / registry.MANIFEST_FILE).read_text().replace("bitcoin", "ethereum")
            ),
            id="manifest-edited",
        ),
        pytest.param(lambda d: (d / registry.MANIFEST_FILE).unlink(), id="manifest-missing"),
    ],
)
def test_corrupted_artifacts_are_refused(
    tmp_path: Path, saved: registry.SavedArtifact, corrupt: Any
) -> None:
    corrupt(tmp_path / saved.path)
    with pytest.raises(registry.ArtifactIntegrityError):
        registry.load_artifact(tmp_path, saved.path, saved.sha256, classes=CLASSES)


def test_edited_file_with_forged_manifest_is_refused(
    tmp_path: Path, saved: registry.SavedArtifact
) -> None:
    """Rewriting the manifest to match an edited file changes the manifest's own hash."""
    directory = tmp_path / saved.path
    params = directory / "params.json"
    params.write_text(params.read_text().replace("0.5", "9.5"))
    manifest = json.loads((directory / registry.MANIFEST_FILE).read_text())
    manifest["files"]["params.json"]["sha256"] = registry.sha256_hex(params.read_bytes())
    (directory / registry.MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True, indent=1))
    with pytest.raises(registry.ArtifactIntegrityError, match="hash mismatch"):
        registry.load_artifact(tmp_path, saved.path, saved.sha256, classes=CLASSES)


def test_missing_artifact_and_wrong_hash_are_refused(
    tmp_path: Path, saved: registry.SavedArtifact
) -> None:
    with pytest.raises(registry.ArtifactIntegrityError, match="hash mismatch"):
        registry.load_artifact(tmp_path, saved.path, "0" * 64, classes=CLASSES)
    with pytest.raises(registry.ArtifactIntegrityError, match="missing"):
        registry.load_artifact(tmp_path, "bitcoin/1d/h7/mean-test/v2", saved.sha256)


def test_unknown_kind_is_refused(tmp_path: Path, saved: registry.SavedArtifact) -> None:
    with pytest.raises(registry.RegistryError, match="unknown model kind"):
        registry.load_artifact(tmp_path, saved.path, saved.sha256, classes={})


@pytest.mark.parametrize(
    "relative",
    ["../outside", "/etc", "a/../../outside", "a/./b", "", ".", "a\\..\\b", "a//b"],
)
def test_path_traversal_is_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(registry.UnsafeArtifactPathError):
        registry.resolve_artifact_dir(tmp_path / "models", relative)
    with pytest.raises(registry.UnsafeArtifactPathError):
        registry.load_artifact(tmp_path / "models", relative, "0" * 64, classes=CLASSES)


def test_unsafe_names_and_links_are_refused(tmp_path: Path, fitted: MeanReturn) -> None:
    with pytest.raises(registry.UnsafeArtifactPathError):
        registry.artifact_path(coin="../etc", interval="1d", horizon=1, kind="naive", version=1)
    models = tmp_path / "models"
    models.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (models / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(registry.UnsafeArtifactPathError, match="outside"):
        registry.save_artifact(fitted, models, "escape/v1")


def test_links_inside_an_artifact_are_refused(
    tmp_path: Path, saved: registry.SavedArtifact
) -> None:
    directory = tmp_path / saved.path
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model")
    (directory / "params.json").unlink()
    (directory / "params.json").symlink_to(secret)
    with pytest.raises(registry.UnsafeArtifactPathError, match="link"):
        registry.load_artifact(tmp_path, saved.path, saved.sha256, classes=CLASSES)


def test_model_dir_defaults_under_the_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_model_dir == tmp_path / "models"
    assert Settings(data_dir=tmp_path, model_dir=tmp_path / "m").resolved_model_dir == (
        tmp_path / "m"
    )


# ---- database -----------------------------------------------------------------------------


def _register(
    versions: ModelVersionRepository, coin_id: int, *, horizon: int = 7, kind: str = "naive"
) -> ModelVersion:
    number = versions.next_version(coin_id, "1d", horizon, kind)
    return versions.register(
        coin_id=coin_id,
        interval="1d",
        horizon=horizon,
        kind=kind,
        version=number,
        params={"horizons": [1, 7]},
        features=["ret_1"],
        train_start_at=START,
        train_end_at=START + dt.timedelta(days=100),
        data_quality={"rows": 100},
        metrics={"mase": 1.01},
        calibration={"0.8": [-0.1, 0.1]},
        artifact_path=f"c/1d/h{horizon}/{kind}/v{number}",
        artifact_sha256="a" * 64,
    )


def test_versions_count_up_per_coin_horizon_and_kind(db_session: Session, factory: Factory) -> None:
    bitcoin, ether = factory.coin("bitcoin"), factory.coin("ethereum")
    versions = ModelVersionRepository(db_session)
    first, second = _register(versions, bitcoin.id), _register(versions, bitcoin.id)
    assert (first.version, second.version) == (1, 2)
    assert _register(versions, bitcoin.id, kind="lstm").version == 1
    assert _register(versions, bitcoin.id, horizon=1).version == 1
    assert _register(versions, ether.id).version == 1
    assert first.status is ModelStatus.CANDIDATE
    assert first.params == {"horizons": [1, 7]}
    assert first.created_at.tzinfo is not None
    listed = versions.for_coin(bitcoin.id, horizon=7, kind="naive")
    assert {v.version for v in listed} == {1, 2}


def test_a_taken_version_number_is_refused(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    versions = ModelVersionRepository(db_session)
    first = _register(versions, coin.id)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        versions.register(
            **{
                c.key: getattr(first, c.key)
                for c in ModelVersion.__table__.columns
                if c.key not in ("id", "status")
            }
        )


def test_promotion_archives_the_previous_production(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("bitcoin")
    versions = ModelVersionRepository(db_session)
    old, new, other_horizon = (
        _register(versions, coin.id),
        _register(versions, coin.id, kind="lstm"),
        _register(versions, coin.id, horizon=1),
    )
    versions.promote(old)
    versions.promote(other_horizon)
    assert versions.production(coin.id, "1d", 7) == old
    versions.promote(new)
    db_session.expire_all()
    assert versions.production(coin.id, "1d", 7) == new
    assert old.status is ModelStatus.ARCHIVED
    assert new.promoted_at is not None
    assert other_horizon.status is ModelStatus.PRODUCTION  # another horizon is untouched
    assert versions.production(coin.id, "1d", 30) is None


def test_two_production_versions_are_refused_by_the_database(
    db_session: Session, factory: Factory
) -> None:
    coin = factory.coin("bitcoin")
    versions = ModelVersionRepository(db_session)
    first, second = _register(versions, coin.id), _register(versions, coin.id)
    versions.promote(first)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        versions.update(second, status=ModelStatus.PRODUCTION)


def test_migrated_table_matches_the_model(engine: Engine) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("model_versions")}
    assert columns == {c.name for c in ModelVersion.__table__.columns}
    indexes = {i["name"] for i in inspect(engine).get_indexes("model_versions")}
    assert "uq_model_versions_one_production" in indexes
