"""The price CSV importer against the test database (SQLite, or PostgreSQL through COPY)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.pricefiles import PriceFileError
from cryptopredict.prices import importer
from cryptopredict.prices.importer import (
    coin_id_from_path,
    import_price_file,
    import_price_files,
    parse_price_file,
)
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.types import Interval
from tests.prices_import.conftest import INTRADAY, PRICES, data_rows

UTC = dt.UTC
EditedCopy = Callable[..., Path]


def _coin(session: Session, coingecko_id: str) -> Cryptocurrency | None:
    return session.scalars(
        select(Cryptocurrency).where(Cryptocurrency.coingecko_id == coingecko_id)
    ).first()


def _count(session: Session, coingecko_id: str, interval: str = "1d") -> int:
    statement = (
        select(func.count())
        .select_from(PriceData)
        .join(Cryptocurrency, Cryptocurrency.id == PriceData.coin_id)
        .where(Cryptocurrency.coingecko_id == coingecko_id, PriceData.interval == interval)
    )
    return int(session.scalar(statement) or 0)


def _bar(session: Session, coingecko_id: str, at: dt.datetime, interval: str = "1d") -> PriceData:
    statement = (
        select(PriceData)
        .join(Cryptocurrency, Cryptocurrency.id == PriceData.coin_id)
        .where(
            Cryptocurrency.coingecko_id == coingecko_id,
            PriceData.interval == interval,
            PriceData.price_at == at,
        )
    )
    return session.scalars(statement).one()


def test_parse_daily_file_reads_every_row_as_a_utc_day() -> None:
    parsed = parse_price_file(PRICES / "bitcoin.csv")

    assert parsed.interval is Interval.DAY
    assert len(parsed.bars) == data_rows(PRICES / "bitcoin.csv") == 2991
    bars = {bar[0]: bar for bar in parsed.bars}
    at, open_, high, low, close, volume, market_cap = bars[dt.datetime(2017, 12, 17, tzinfo=UTC)]
    assert close == pytest.approx(19140.80, rel=1e-6)
    assert open_ is not None and high is not None and low is not None
    assert low <= min(open_, close) <= max(open_, close) <= high
    assert volume == pytest.approx(13314599936)
    assert market_cap == pytest.approx(320576568850)
    assert bars[dt.datetime(2013, 4, 29, tzinfo=UTC)][5] is None  # 2013 volume is unknown


def test_import_writes_every_row_with_close_as_price(db_session: Session) -> None:
    path = PRICES / "bitcoin.csv"

    result = import_price_file(path, session=db_session)

    assert result.coin == "bitcoin"
    assert result.interval is Interval.DAY
    assert result.rows_read == result.rows_written == data_rows(path)
    assert result.first_at == dt.datetime(2013, 4, 29, tzinfo=UTC)
    assert result.last_at == dt.datetime(2021, 7, 6, tzinfo=UTC)
    assert _count(db_session, "bitcoin") == data_rows(path)
    bar = _bar(db_session, "bitcoin", dt.datetime(2017, 12, 17, tzinfo=UTC))
    assert bar.price == pytest.approx(19140.80, rel=1e-6)
    assert bar.close == bar.price
    assert bar.open == pytest.approx(19475.80078125)
    assert bar.high == pytest.approx(20089)
    assert bar.low == pytest.approx(18974.099609375)
    assert bar.source == "csv"
    assert _bar(db_session, "bitcoin", dt.datetime(2013, 4, 29, tzinfo=UTC)).volume is None


def test_unknown_coins_are_created_from_the_bundled_catalogue(db_session: Session) -> None:
    import_price_file(PRICES / "ripple.csv", session=db_session)

    coin = _coin(db_session, "ripple")
    assert coin is not None
    assert (coin.symbol, coin.name, coin.market_cap_rank) == ("xrp", "XRP", 4)
    assert coin.image_url is not None
    assert coin.image_url.startswith("https://assets.coingecko.com/")


def test_coins_missing_from_the_catalogue_get_their_id_as_names(
    db_session: Session, edited_copy: EditedCopy
) -> None:
    path = edited_copy(PRICES / "cardano.csv", name="my-test-coin.csv", lines=5)

    import_price_file(path, session=db_session)

    coin = _coin(db_session, "my-test-coin")
    assert coin is not None
    assert (coin.symbol, coin.name, coin.market_cap_rank) == ("my-test-coin", "My Test Coin", None)
    assert _count(db_session, "my-test-coin") == 4


def test_reimport_writes_nothing_and_a_changed_row_writes_one(
    db_session: Session, edited_copy: EditedCopy
) -> None:
    path = PRICES / "ethereum.csv"
    first = import_price_file(path, session=db_session)

    again = import_price_file(path, session=db_session)

    assert first.rows_written == again.rows_read == data_rows(path)
    assert again.rows_written == 0
    changed = edited_copy(path, lines=3, replace={3: "2015-08-09,0.7067,0.8796,0.6293,0.75,,"})
    assert import_price_file(changed, session=db_session).rows_written == 1
    bar = _bar(db_session, "ethereum", dt.datetime(2015, 8, 9, tzinfo=UTC))
    assert (bar.price, bar.volume) == (0.75, None)
    assert _count(db_session, "ethereum") == data_rows(path)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2015-02-30,1,2,0.5,1.5,10,10", "date '2015-02-30' is not a valid date"),
        ("yesterday,1,2,0.5,1.5,10,10", "is not a valid date"),
        ("2015-08-27,1,2,0.5,abc,10,10", "close 'abc' is not a number"),
        ("2015-08-27,1,2,0.5,,10,10", "close is empty"),
        ("2015-08-27,1,2,0.5,0,10,10", "close '0' is not a positive price"),
        ("2015-08-27,-1,2,0.5,1.5,10,10", "open '-1' is not a positive price"),
        ("2015-08-27,1,2,0.5,nan,10,10", "close 'nan' is not a positive price"),
        ("2015-08-27,1,2,0.5,inf,10,10", "close 'inf' is not a positive price"),
        ("2015-08-27,1,2,0.5,1.5,-3,10", "volume '-3' must be zero or more"),
        ("2015-08-27,1,0.5,2,1.5,10,10", "low 2.0 is above high 0.5"),
        ("2015-08-27,1,2,0.5", "expected 7 fields, found 4"),
        ("2015-08-18,1,2,0.5,1.5,10,10", "date 2015-08-18 repeats the row on line 12"),
    ],
)
def test_a_bad_row_aborts_the_file_naming_file_and_line(
    db_session: Session, edited_copy: EditedCopy, row: str, reason: str
) -> None:
    path = edited_copy(PRICES / "ethereum.csv", lines=30, replace={21: row})

    with pytest.raises(PriceFileError) as caught:
        import_price_file(path, session=db_session)

    assert caught.value.line == 21
    assert str(caught.value).startswith(f"{path}:21: ")
    assert reason in str(caught.value)
    assert _coin(db_session, "ethereum") is None


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("", 1, "the file is empty"),
        ("day,close\n2020-01-01,1\n", 1, "needs a `date` or `timestamp` column"),
        ("date,open\n2020-01-01,1\n", 1, "no `close` column"),
        ("date,open,high,low,close,volume,market_cap\n", None, "no data rows"),
    ],
)
def test_a_bad_file_shape_is_refused(
    tmp_path: Path, content: str, line: int | None, reason: str
) -> None:
    path = tmp_path / "bitcoin.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(PriceFileError) as caught:
        parse_price_file(path)

    assert caught.value.line == line
    assert reason in str(caught.value)


def test_a_bad_file_does_not_stop_the_others(db_session: Session, edited_copy: EditedCopy) -> None:
    bad = edited_copy(PRICES / "dogecoin.csv", lines=40, replace={33: "2014-01-01,x,1,1,1,1,1"})
    good = edited_copy(PRICES / "litecoin.csv", lines=40)

    report = import_price_files([bad, good], session=db_session)

    assert not report.ok
    assert [(f.path, f.line) for f in report.failures] == [(bad, 33)]
    assert "open 'x' is not a number" in report.failures[0].message
    assert [r.coin for r in report.results] == ["litecoin"]
    assert report.rows_read == report.rows_written == 39
    assert _coin(db_session, "dogecoin") is None
    assert _count(db_session, "litecoin") == 39


def test_intraday_file_imports_as_hourly_bars(db_session: Session) -> None:
    result = import_price_file(INTRADAY, session=db_session)

    assert (result.coin, result.interval) == ("bitcoin", Interval.HOUR)
    assert result.rows_read == result.rows_written == data_rows(INTRADAY) == 3833
    assert result.first_at == dt.datetime(2021, 1, 1, tzinfo=UTC)
    assert result.last_at == dt.datetime(2021, 6, 9, 23, tzinfo=UTC)
    assert _count(db_session, "bitcoin", "1h") == 3833
    assert _count(db_session, "bitcoin", "1d") == 0
    bar = _bar(db_session, "bitcoin", dt.datetime(2021, 1, 1, 1, tzinfo=UTC), "1h")
    assert (bar.open, bar.high, bar.low, bar.price) == (28995.13, 29470, 28960.35, 29409.99)
    assert bar.volume == pytest.approx(158357816.8180572)
    assert bar.market_cap is None


def test_intraday_interval_is_inferred_from_spacing_and_offsets_become_utc(
    tmp_path: Path,
) -> None:
    path = tmp_path / "solana.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2021-01-01T02:00:00+02:00,1,2,0.5,1.5,10\n"
        "2021-01-01T00:05:00Z,1,2,0.5,1.5,10\n"
        "2021-01-01T00:15:00,1,2,0.5,1.5,\n",
        encoding="utf-8",
    )

    parsed = parse_price_file(path)

    assert parsed.interval is Interval.FIVE_MINUTES
    assert [bar[0] for bar in parsed.bars] == [
        dt.datetime(2021, 1, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2021, 1, 1, 0, 5, tzinfo=UTC),
        dt.datetime(2021, 1, 1, 0, 15, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("name", "content", "interval", "line", "reason"),
    [
        (
            "eth.csv",
            "timestamp,close\n2021-01-01T00:00:00Z,1\n2021-01-01T00:30:00Z,1\n",
            Interval.HOUR,
            3,
            "2021-01-01T00:30:00+00:00 is not the start of a 1h bar",
        ),
        ("eth.csv", "timestamp,close\n2021-01-01T00:00:00Z,1\n", None, None, "single row"),
        (
            "eth.csv",
            "timestamp,close\n2021-01-01T00:00:00Z,1\n2021-01-01T00:07:00Z,1\n",
            None,
            None,
            "420 s apart",
        ),
        ("eth.csv", "date,close\n2021-01-01,1\n", Interval.HOUR, 1, "holds daily bars"),
        (
            "eth.csv",
            "timestamp,close\n2021-01-01T01:00:00Z,1\n2021-01-01T00:00:00Z,1\n"
            "2021-01-01T01:00:00Z,2\n",
            None,
            4,
            "repeats the row on line 2",
        ),
    ],
)
def test_interval_problems_are_refused(
    tmp_path: Path,
    name: str,
    content: str,
    interval: Interval | None,
    line: int | None,
    reason: str,
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    with pytest.raises(PriceFileError) as caught:
        parse_price_file(path, interval=interval)

    assert caught.value.line == line
    assert reason in str(caught.value)


def test_the_file_name_gives_the_coin() -> None:
    assert coin_id_from_path(Path("bitcoin.csv")) == "bitcoin"
    assert coin_id_from_path(Path("data/bitcoin_1h.csv")) == "bitcoin"
    assert coin_id_from_path(Path("Bitcoin-Cash.csv")) == "bitcoin-cash"
    with pytest.raises(PriceFileError, match="cannot derive a coin id"):
        coin_id_from_path(Path("my prices.csv"))


def test_coin_option_overrides_the_file_name(db_session: Session, edited_copy: EditedCopy) -> None:
    path = edited_copy(PRICES / "bitcoin.csv", name="export.csv", lines=11)

    result = import_price_file(path, session=db_session, coin="Bitcoin")

    assert result.coin == "bitcoin"
    assert _count(db_session, "bitcoin") == 10
    assert _coin(db_session, "export") is None


# ---- the column-wise reader and the row reader agree ---------------------------------------


def _outcome(read: Callable[[], object]) -> object:
    try:
        return read()
    except PriceFileError as exc:
        return (type(exc), str(exc), exc.line)


HEADER = "date,open,high,low,close,volume,market_cap\n"
GOOD = "2020-01-01,1,2,0.5,1.5,10,100\n2020-01-02,1.5,2.5,1,2,,\n2020-01-03,2,3,1.5,2.5,0,5\n"


@pytest.mark.parametrize(
    ("content", "plain"),
    [
        (HEADER + GOOD, True),
        (HEADER + GOOD.rstrip("\n"), True),  # no newline at the end
        ("\ufeff" + HEADER + GOOD, True),  # byte-order mark
        ("date,close,extra\n2020-01-01,1.5,x\n2020-01-02, 2 ,y\n", True),
        ("timestamp,close\n2020-01-01T01:00:00+01:00,1\n2020-01-01T01:00:00Z,2\n", True),
        (HEADER.replace("\n", "\r\n") + GOOD.replace("\n", "\r\n"), False),  # CRLF
        (HEADER + GOOD.replace("\n", "\n\n", 1), False),  # a blank line
        (HEADER + '"2020-01-01",1,2,0.5,1.5,10,100\n', False),  # quotes
        (HEADER + GOOD + "2020-01-04,1,2,0.5,1.5,10\n", False),  # a short row
        (HEADER + GOOD + "2020-01-04,1,2,0.5,1.5, ,\n", False),  # a blank value
        (HEADER + GOOD + "2020-01-04,1,2,0.5,NaN,10,100\n", False),
        (HEADER + GOOD + "2020-01-04,1,2,0.5,1e999,10,100\n", False),
        (HEADER + GOOD + "2020-01-04,1,2,0.5,1.5,-0.0,100\n", True),  # zero volume is fine
        (HEADER + GOOD + "2020-01-04,1,2,0.5,1.5,-1,100\n", False),
        (HEADER + GOOD + "2020-01-04,1,0.4,0.5,1.5,10,100\n", False),  # low above high
        (HEADER + GOOD + "2020-01-04,,0.4,0.5,1.5,,\n", False),
        (HEADER + GOOD + "2020-01-02,1,2,0.5,1.5,10,100\n", False),  # repeated day
        (HEADER + GOOD + "2019-12-31,1,2,0.5,1.5,10,100\n", False),  # out of order
        (HEADER + GOOD + "2020-02-30,1,2,0.5,1.5,10,100\n", False),
        ("date,close\n", False),
        ("", False),
    ],
)
def test_the_column_reader_agrees_with_the_row_reader(
    tmp_path: Path, content: str, plain: bool
) -> None:
    path = tmp_path / "bitcoin.csv"
    path.write_bytes(content.encode("utf-8"))

    parsed = _outcome(lambda: parse_price_file(path))

    assert parsed == _outcome(lambda: importer._parse_rows(path, None))
    assert (importer._parse_plain(path, None) is not None) is plain


@pytest.mark.parametrize("path", [*sorted(PRICES.glob("*.csv")), INTRADAY], ids=lambda p: p.name)
def test_the_shared_files_are_read_column_wise_with_the_same_bars(path: Path) -> None:
    plain = importer._parse_plain(path, None)

    assert plain is not None
    assert plain == importer._parse_rows(path, None)


def test_files_are_reported_in_order_whatever_fails(
    db_session: Session, edited_copy: EditedCopy, tmp_path: Path
) -> None:
    files = [
        edited_copy(PRICES / "bitcoin.csv", lines=20),
        tmp_path / "missing.csv",
        edited_copy(PRICES / "cardano.csv", lines=20, replace={5: "2017-10-05,1,1,1"}),
        tmp_path / "bad name!.csv",
        edited_copy(PRICES / "dogecoin.csv", lines=20),
        edited_copy(PRICES / "ethereum.csv", lines=20),
    ]
    files[3].write_text("date,close\n2020-01-01,1\n", encoding="utf-8")
    progress: list[tuple[str, int, int]] = []

    report = import_price_files(
        files, session=db_session, on_progress=lambda p, n, t: progress.append((p.name, n, t))
    )

    assert [r.coin for r in report.results] == ["bitcoin", "dogecoin", "ethereum"]
    assert [(f.path.name, f.line) for f in report.failures] == [
        ("missing.csv", None),
        ("cardano.csv", 5),
        ("bad name!.csv", None),
    ]
    assert progress == [
        (name, n, 19) for name in ("bitcoin.csv", "dogecoin.csv", "ethereum.csv") for n in (0, 19)
    ]
    assert report.rows_written == 57
    assert import_price_files(files[4:], session=db_session).rows_written == 0
    assert import_price_files([], session=db_session).results == []
