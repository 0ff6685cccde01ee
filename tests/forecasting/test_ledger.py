"""The forecast ledger: issuing once per closed bar from every model (served and in shadow),
scoring against stored closes as computed by hand, live records against naive on the same
origins, demotion of a model failing live, and expiry of a stale model."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.core.errors import ConflictError
from cryptopredict.core.events import MemoryEventLog
from cryptopredict.forecasting import service, serving, training
from cryptopredict.forecasting.models import (
    LiveScore,
    ModelEvent,
    ModelEventKind,
    ModelStatus,
    ModelVersion,
    Prediction,
    PredictionRole,
)
from cryptopredict.forecasting.repository import ModelVersionRepository, PredictionRepository
from cryptopredict.stream import service as stream_service
from tests.conftest import SNAPSHOT_PRICES, need_service
from tests.factories import Factory
from tests.metrics_support import local, value

DAY = dt.timedelta(days=1)
DAYS = 500
HORIZONS = (1, 7)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def model_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, model_dir=tmp_path / "models")


@pytest.fixture
def litecoin(db_session: Session, factory: Factory) -> tuple[Cryptocurrency, dt.datetime]:
    """500 real daily litecoin closes; the instant the last bar starts."""
    frame = training.load_csv_prices(SNAPSHOT_PRICES, "litecoin").iloc[-DAYS:]
    start = frame.index[0].to_pydatetime()
    coin = factory.coin("litecoin")
    factory.daily_prices(coin, [float(c) for c in frame["close"]], start=start)
    return coin, frame.index[-1].to_pydatetime()


def _train(session: Session, settings: Settings, coin: Cryptocurrency) -> service.TrainingOutcome:
    outcome = service.train(
        session=session,
        settings=settings,
        coin=coin,
        prices=service.load_prices(session=session, coin=coin),
        horizons=HORIZONS,
        models=["drift"],
    )
    session.commit()
    return outcome


def _ledger(session: Session, coin: Cryptocurrency) -> list[Prediction]:
    statement = (
        select(Prediction)
        .where(Prediction.coin_id == coin.id)
        .order_by(Prediction.horizon, Prediction.model_kind)
    )
    return list(session.scalars(statement))


def test_issuing_writes_the_served_forecast_and_shadows_once_per_bar(
    db_session: Session, model_settings: Settings, litecoin: tuple[Cryptocurrency, dt.datetime]
) -> None:
    coin, last_bar = litecoin
    outcome = _train(db_session, model_settings, coin)
    production = {v.horizon: v for v in outcome.versions if v.status is ModelStatus.PRODUCTION}
    now = last_bar + DAY + dt.timedelta(hours=1)  # the last bar has closed

    first = service.issue_forecasts(session=db_session, settings=model_settings, now=now)
    again = service.issue_forecasts(session=db_session, settings=model_settings, now=now)

    rows = _ledger(db_session, coin)
    assert first.issued == len(rows) == len(HORIZONS) * 2  # naive and drift per horizon
    assert again.issued == 0 and len(_ledger(db_session, coin)) == len(rows)
    assert {row.origin_at for row in rows} == {last_bar}
    for horizon in HORIZONS:
        at_horizon = [row for row in rows if row.horizon == horizon]
        served = [row for row in at_horizon if row.role is PredictionRole.SERVED]
        assert [row.model_version_id for row in served] == [production[horizon].id]
        assert {row.model_kind for row in at_horizon} == {"naive", "drift"}
        for row in at_horizon:
            assert row.target_at == last_bar + horizon * DAY
            assert row.lower_95 is not None and row.upper_95 is not None
            assert row.lower_95 <= row.lower_80 <= row.point <= row.upper_80 <= row.upper_95  # type: ignore[operator]
    # The same forecast `service.forecast` computes on demand from the production version.
    direct = service.forecast(
        session=db_session, settings=model_settings, coin=coin, horizon=7, now=now
    )
    [issued] = [r for r in rows if r.horizon == 7 and r.role is PredictionRole.SERVED]
    assert issued.point == pytest.approx(direct.forecast.price, rel=1e-12)


def test_an_open_bar_is_not_forecast_from(
    db_session: Session, model_settings: Settings, litecoin: tuple[Cryptocurrency, dt.datetime]
) -> None:
    coin, last_bar = litecoin
    _train(db_session, model_settings, coin)

    service.issue_forecasts(
        session=db_session, settings=model_settings, now=last_bar + dt.timedelta(hours=5)
    )

    assert {row.origin_at for row in _ledger(db_session, coin)} == {last_bar - DAY}


@pytest.mark.services
def test_concurrent_issuers_write_each_forecast_once(
    engine: Engine, model_settings: Settings, tmp_path: Path
) -> None:
    """Two workers issuing the same bar at the same moment, each in its own transaction."""
    if engine.dialect.name != "postgresql":
        need_service("postgresql", "set CRYPTOPREDICT_TEST_DATABASE_URL to a PostgreSQL URL")
    frame = training.load_csv_prices(SNAPSHOT_PRICES, "litecoin").iloc[-DAYS:]
    last_bar = frame.index[-1].to_pydatetime()
    with Session(engine) as session:
        coin = Cryptocurrency(coingecko_id="concurrent-coin", symbol="cc", name="Concurrent")
        session.add(coin)
        session.commit()
        Factory(session, None).daily_prices(  # type: ignore[arg-type]
            coin, [float(c) for c in frame["close"]], start=frame.index[0].to_pydatetime()
        )
        session.commit()
        _train(session, model_settings, coin)
        coin_id = coin.id
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            with Session(engine) as session:
                barrier.wait(timeout=30)
                report = service.issue_forecasts(
                    session=session,
                    settings=model_settings,
                    now=last_bar + DAY,
                    coin="concurrent-coin",
                )
                results.append(report.issued)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    try:
        workers = [threading.Thread(target=issue) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not errors
        with Session(engine) as session:
            stored = session.scalar(
                select(func.count()).select_from(Prediction).where(Prediction.coin_id == coin_id)
            )
        assert sorted(results) == [0, stored] and stored == len(HORIZONS) * 2
    finally:
        with Session(engine) as session:
            session.delete(session.get(Cryptocurrency, coin_id))
            session.commit()


# ---- scoring, by hand -----------------------------------------------------------------


def _version(
    session: Session,
    coin: Cryptocurrency,
    kind: str,
    *,
    horizon: int = 1,
    status: ModelStatus = ModelStatus.CANDIDATE,
    train_end_at: dt.datetime = START,
) -> ModelVersion:
    repository = ModelVersionRepository(session)
    version = repository.register(
        coin_id=coin.id,
        interval="1d",
        horizon=horizon,
        kind=kind,
        version=repository.next_version(coin.id, "1d", horizon, kind),
        params={},
        features=[],
        train_start_at=START - 100 * DAY,
        train_end_at=train_end_at,
        data_quality={},
        metrics={"relative_mae": 0.9, "dm_pvalue": 0.01, "skilled": kind != "naive"},
        calibration={},
        artifact_path=f"{coin.coingecko_id}/{kind}/{horizon}",
        artifact_sha256="0" * 64,
    )
    if status is ModelStatus.PRODUCTION:
        repository.promote(version)
    else:
        repository.update(version, status=status)
    return version


def _issue(
    session: Session,
    version: ModelVersion,
    origins: Sequence[dt.datetime],
    point: Callable[[int], float],
    bounds: Callable[[int], tuple[float, float, float, float] | None] = lambda _: None,
    role: PredictionRole = PredictionRole.SHADOW,
) -> None:
    rows: list[dict[str, Any]] = []
    for i, origin in enumerate(origins):
        b = bounds(i)
        rows.append(
            {
                "coin_id": version.coin_id,
                "interval": "1d",
                "horizon": version.horizon,
                "model_version_id": version.id,
                "model_kind": version.kind,
                "model_version": version.version,
                "role": role,
                "origin_at": origin,
                "target_at": origin + version.horizon * DAY,
                "issued_at": origin + DAY,
                "origin_price": 100.0,
                "point": point(i),
                "lower_80": None if b is None else b[0],
                "upper_80": None if b is None else b[1],
                "lower_95": None if b is None else b[2],
                "upper_95": None if b is None else b[3],
                "interval_method": "conformal",
            }
        )
    PredictionRepository(session).issue(rows)


def test_scoring_fills_each_row_as_computed_by_hand(db_session: Session, factory: Factory) -> None:
    coin = factory.coin("handcoin")
    factory.daily_prices(coin, [100.0, 100.0, 120.0], start=START)  # bars at START + 0..2 days
    model = _version(db_session, coin, "drift", status=ModelStatus.PRODUCTION)
    naive = _version(db_session, coin, "naive")
    origins = [START, START + DAY]  # targets: START + 1 day (100) and + 2 days (120)
    _issue(
        db_session,
        model,
        origins,
        lambda i: [110.0, 115.0][i],
        lambda i: [(105.0, 115.0, 90.0, 130.0), (110.0, 125.0, 100.0, 140.0)][i],
        role=PredictionRole.SERVED,
    )
    _issue(db_session, naive, origins, lambda _: 100.0, lambda _: (95.0, 105.0, 90.0, 110.0))
    _issue(db_session, model, [START + 2 * DAY], lambda _: 125.0)  # its target is not stored

    report = service.score_predictions(session=db_session, settings=Settings(), now=START + 4 * DAY)

    assert report.scored == 4 and report.waiting == 1
    rows = {(r.model_kind, r.origin_at): r for r in _ledger(db_session, coin)}
    first = rows[("drift", START)]  # point 110, actual 100
    assert first.actual == 100.0 and first.error == 10.0
    assert first.abs_log_error == pytest.approx(math.log(1.1))
    assert first.inside_80 is False and first.inside_95 is True
    assert first.winkler_80 == pytest.approx(10 + 2 / 0.2 * 5)  # width + 2/alpha * miss
    assert first.winkler_95 == pytest.approx(40.0)
    second = rows[("drift", START + DAY)]  # point 115, actual 120
    assert second.error == -5.0 and second.inside_80 is True
    assert second.winkler_80 == pytest.approx(15.0)
    naive_second = rows[("naive", START + DAY)]  # point 100, actual 120: misses both
    assert naive_second.winkler_95 == pytest.approx(20 + 2 / 0.05 * 10)
    assert rows[("drift", START + 2 * DAY)].scored_at is None

    live = db_session.scalars(select(LiveScore).where(LiveScore.model_version_id == model.id)).one()
    figures = live.figures
    assert figures["n"] == 2
    assert figures["mae"] == pytest.approx(7.5)  # |10| and |-5|
    assert figures["naive_mae"] == pytest.approx(10.0)  # |0| and |-20|
    assert figures["mae_ratio"] == pytest.approx(0.75)
    assert figures["coverage_80"]["observed"] == 0.5 and figures["coverage_80"]["n"] == 2
    assert figures["winkler_80"] == pytest.approx((60.0 + 15.0) / 2)
    assert figures["diebold_mariano"] is None  # fewer than 30 paired forecasts

    rerun = service.score_predictions(session=db_session, settings=Settings(), now=START + 4 * DAY)
    assert rerun.scored == 0


def _origins(n: int) -> list[dt.datetime]:
    return [START + i * DAY for i in range(n)]


def _scored_against_naive(
    session: Session,
    factory: Factory,
    name: str,
    kind: str,
    closes: list[float],
    point: Callable[[int], float],
    bounds: Callable[[int], tuple[float, float, float, float] | None] = lambda _: None,
) -> tuple[ModelVersion, ModelVersion, list[dt.datetime], Any]:
    """A production `kind` serving one forecast per origin beside naive's (the origin's close),
    on every bar but the last of `closes`, then scored; the versions, origins and report."""
    n = len(closes) - 1
    _, model, naive = _hand_coin(session, factory, name, closes, kind)
    origins = _origins(n)
    _issue(session, naive, origins, lambda i: closes[i])
    _issue(session, model, origins, point, bounds, role=PredictionRole.SERVED)
    report = service.score_predictions(
        session=session, settings=Settings(), now=START + (n + 2) * DAY
    )
    return model, naive, origins, report


def test_a_production_model_significantly_worse_than_naive_is_demoted(
    db_session: Session, factory: Factory
) -> None:
    n = 40
    closes = [100.0 + (i % 5) for i in range(n + 1)]
    model, naive, origins, report = _scored_against_naive(
        db_session,
        factory,
        "worsecoin",
        "lightgbm",
        closes,
        lambda i: closes[i + 1] * (1.08 + 0.01 * (i % 3)),
    )

    db_session.refresh(model)
    db_session.refresh(naive)
    assert model.status is ModelStatus.DEMOTED
    assert naive.status is ModelStatus.PRODUCTION
    [demotion] = report.demoted
    assert demotion["version_id"] == model.id and "significantly worse" in demotion["reason"]
    events = list(db_session.scalars(select(ModelEvent).order_by(ModelEvent.id)))
    assert [(e.model_version_id, e.kind, e.source) for e in events] == [
        (model.id, ModelEventKind.DEMOTED, "monitoring"),
        (naive.id, ModelEventKind.PROMOTED, "monitoring"),
    ]
    assert events[0].figures["mae_ratio"] > 1
    assert events[0].figures["diebold_mariano"]["p_value"] < 0.05
    # What is served changes at once, on the bar already issued: naive, saying why.
    [served] = _served(db_session, "worsecoin", START + (n + 2) * DAY).forecasts
    assert served.model.kind == "naive" and served.origin_at == origins[-1]
    assert "demoted by live monitoring" in served.verdict and served.expired is False


def test_a_model_as_good_as_naive_stays_in_production(
    db_session: Session, factory: Factory
) -> None:
    closes = [100.0 + (i % 7) for i in range(41)]
    model, _, _, report = _scored_against_naive(
        db_session,
        factory,
        "finecoin",
        "arima",
        closes,
        lambda i: closes[i] + (0.5 if i % 2 else -0.5),
    )

    db_session.refresh(model)
    assert model.status is ModelStatus.PRODUCTION and report.demoted == []


def test_intervals_that_miss_their_coverage_demote_the_model(
    db_session: Session, factory: Factory
) -> None:
    closes = [100.0 + (i % 3) for i in range(61)]
    # Point as naive's, but intervals that never contain the actual (far too narrow).
    model, _, _, report = _scored_against_naive(
        db_session,
        factory,
        "widecoin",
        "drift",
        closes,
        lambda i: closes[i],
        lambda i: (closes[i] + 5, closes[i] + 6, closes[i] + 5, closes[i] + 7),
    )

    db_session.refresh(model)
    assert model.status is ModelStatus.DEMOTED
    assert "coverage" in report.demoted[0]["reason"]


def test_an_expired_model_gives_way_to_naive(
    db_session: Session, model_settings: Settings, litecoin: tuple[Cryptocurrency, dt.datetime]
) -> None:
    coin, last_bar = litecoin
    outcome = _train(db_session, model_settings, coin)
    drift = [v for v in outcome.versions if v.kind == "drift" and v.horizon == 1][0]
    ModelVersionRepository(db_session).promote(drift)
    # Its training data now ends 8 bars before the origin: past the default 7.
    ModelVersionRepository(db_session).update(drift, train_end_at=last_bar - 8 * DAY)
    db_session.commit()

    service.issue_forecasts(session=db_session, settings=model_settings, now=last_bar + DAY)

    served = [
        r for r in _ledger(db_session, coin) if r.horizon == 1 and r.role is PredictionRole.SERVED
    ]
    assert [r.model_kind for r in served] == ["naive"]
    [answer] = [
        f for f in _served(db_session, "litecoin", last_bar + DAY).forecasts if f.horizon == 1
    ]
    assert answer.model.kind == "naive" and answer.expired is True
    assert "has expired" in answer.verdict
    assert any(
        r.model_kind == "drift" and r.role is PredictionRole.SHADOW
        for r in _ledger(db_session, coin)
    )


def test_a_production_model_whose_files_changed_gives_way_to_naive(
    db_session: Session,
    model_settings: Settings,
    litecoin: tuple[Cryptocurrency, dt.datetime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    coin, last_bar = litecoin
    outcome = _train(db_session, model_settings, coin)
    drift = [v for v in outcome.versions if v.kind == "drift" and v.horizon == 7][0]
    ModelVersionRepository(db_session).promote(drift)
    db_session.commit()
    params = model_settings.resolved_model_dir / drift.artifact_path / "params.json"
    params.write_text(params.read_text() + " ")  # edited after it was registered

    service.issue_forecasts(session=db_session, settings=model_settings, now=last_bar + DAY)

    at_seven = [r for r in _ledger(db_session, coin) if r.horizon == 7]
    assert [(r.model_kind, r.role) for r in at_seven] == [("naive", PredictionRole.SERVED)]
    assert "hash mismatch" in caplog.text or "changed since it was saved" in caplog.text


def _served(session: Session, coin: str, now: dt.datetime) -> Any:
    return serving.coin_forecasts(
        session=session, settings=Settings(), identifier=coin, horizons=[1, 7], now=now
    )


def _hand_coin(
    session: Session, factory: Factory, name: str, closes: list[float], kind: str = "drift"
) -> tuple[Cryptocurrency, ModelVersion, ModelVersion]:
    """A coin with `closes` from START, a production version of `kind` and a naive one."""
    coin = factory.coin(name)
    factory.daily_prices(coin, closes, start=START)
    model = _version(session, coin, kind, status=ModelStatus.PRODUCTION)
    naive = _version(session, coin, "naive")
    return coin, model, naive


def test_archiving_the_production_model_serves_naive_at_once(
    db_session: Session, factory: Factory
) -> None:
    coin, model, naive = _hand_coin(db_session, factory, "archcoin", [100.0, 101.0])
    _issue(db_session, model, [START], lambda _: 102.0, role=PredictionRole.SERVED)
    _issue(db_session, naive, [START], lambda _: 100.0)
    now = START + 2 * DAY
    assert _served(db_session, "archcoin", now).forecasts[0].model.kind == "drift"

    service.archive_model(
        session=db_session, cache=MemoryCache(), model_id=model.id, actor="a@x.io", now=now
    )

    [served] = _served(db_session, "archcoin", now).forecasts
    assert served.model.kind == "naive"
    assert "no model is in production" in served.verdict


def test_a_target_bar_still_open_is_not_scored(db_session: Session, factory: Factory) -> None:
    coin, model, _ = _hand_coin(db_session, factory, "opencoin", [100.0, 101.0])
    _issue(db_session, model, [START], lambda _: 102.0, role=PredictionRole.SERVED)

    # The target bar (START + 1 day) is stored but closes only at START + 2 days.
    early = service.score_predictions(
        session=db_session, settings=Settings(), now=START + DAY + dt.timedelta(hours=12)
    )
    late = service.score_predictions(session=db_session, settings=Settings(), now=START + 2 * DAY)

    assert (early.scored, late.scored) == (0, 1)


def test_a_row_that_cannot_be_scored_does_not_stop_the_others(
    db_session: Session, factory: Factory
) -> None:
    coin, model, _ = _hand_coin(db_session, factory, "badcoin", [100.0, 101.0, 102.0])
    _issue(db_session, model, [START, START + DAY], lambda i: [0.0, 103.0][i])  # 0: impossible

    report = service.score_predictions(session=db_session, settings=Settings(), now=START + 4 * DAY)

    assert (report.scored, report.unscorable) == (1, 1)


def test_long_horizons_are_judged_on_non_overlapping_forecasts(
    db_session: Session, factory: Factory
) -> None:
    """45 daily 30-day forecasts share their futures: 2 are independent, too few to test."""
    n, horizon = 45, 30
    closes = [100.0 + i for i in range(n + horizon)]
    coin = factory.coin("longcoin")
    factory.daily_prices(coin, closes, start=START)
    model = _version(db_session, coin, "drift", horizon=horizon, status=ModelStatus.PRODUCTION)
    naive = _version(db_session, coin, "naive", horizon=horizon)
    _issue(db_session, naive, _origins(n), lambda i: closes[i])
    _issue(db_session, model, _origins(n), lambda i: closes[i] * 1.5, role=PredictionRole.SERVED)

    report = service.score_predictions(
        session=db_session, settings=Settings(), now=START + (n + horizon + 1) * DAY
    )

    figures = (
        db_session.scalars(select(LiveScore).where(LiveScore.model_version_id == model.id))
        .one()
        .figures
    )
    assert figures["n"] == n and figures["independent_n"] == 2
    assert figures["mae_ratio"] > 1 and figures["diebold_mariano"] is None
    assert report.demoted == []  # far worse, but not yet shown to be


@pytest.mark.services
def test_concurrent_promotions_of_one_horizon_leave_one_in_production(
    engine: Engine, factory: Factory, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        need_service("postgresql", "set CRYPTOPREDICT_TEST_DATABASE_URL to a PostgreSQL URL")
    with Session(engine) as session:
        coin = Cryptocurrency(coingecko_id="race-coin", symbol="rc", name="Race")
        session.add(coin)
        session.commit()
        first, second = (_version(session, coin, kind) for kind in ("drift", "arima"))
        session.commit()
        ids, coin_id = [first.id, second.id], coin.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def promote(model_id: int) -> None:
        with Session(engine) as session:
            barrier.wait(timeout=30)
            try:
                service.promote_model(
                    session=session,
                    settings=Settings(data_dir=tmp_path),
                    cache=MemoryCache(),
                    model_id=model_id,
                    actor="admin@example.com",
                    now=START,
                )
                outcomes.append("promoted")
            except ConflictError:
                outcomes.append("conflict")

    try:
        workers = [threading.Thread(target=promote, args=(i,)) for i in ids]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        with Session(engine) as session:
            statuses = sorted(
                str(v.status)
                for v in session.scalars(
                    select(ModelVersion).where(ModelVersion.coin_id == coin_id)
                )
            )
        # Either the two serialise (the later one archives the earlier) or the later one is
        # refused with a 409; never two in production, never an unhandled error.
        assert sorted(outcomes) in (["conflict", "promoted"], ["promoted", "promoted"])
        expected_loser = "candidate" if "conflict" in outcomes else "archived"
        assert statuses == sorted([expected_loser, "production"])
    finally:
        with Session(engine) as session:
            session.execute(delete(ModelEvent).where(ModelEvent.model_version_id.in_(ids)))
            session.delete(session.get(Cryptocurrency, coin_id))
            session.commit()


def test_issuing_announces_the_forecast_on_the_live_stream_and_counts_it(
    db_session: Session, model_settings: Settings, litecoin: tuple[Cryptocurrency, dt.datetime]
) -> None:
    coin, last_bar = litecoin
    _train(db_session, model_settings, coin)
    name = "cryptopredict_forecasts_issued_total"
    before = {h: value(local(), name, horizon=str(h), model="drift") for h in HORIZONS}
    log = stream_service.event_log(model_settings)
    assert isinstance(log, MemoryEventLog)  # no Redis configured: this process's own log
    events: list[Any] = []
    stop = log.listen(events.extend)
    try:
        service.issue_forecasts(session=db_session, settings=model_settings, now=last_bar + DAY)
        again = service.issue_forecasts(
            session=db_session, settings=model_settings, now=last_bar + DAY
        )
    finally:
        stop()

    assert again.issued == 0  # nothing new: nothing announced a second time
    [event] = [e for e in events if e.kind == "forecast" and e.coin == "litecoin"]
    body = orjson.loads(event.data)
    assert body["reason"] == "issued" and body["coin"] == "litecoin"
    assert sorted(f["horizon"] for f in body["forecasts"]) == list(HORIZONS)
    after = {h: value(local(), name, horizon=str(h), model="drift") for h in HORIZONS}
    assert all(after[h] - before[h] == 1 for h in HORIZONS)  # one drift forecast per horizon
