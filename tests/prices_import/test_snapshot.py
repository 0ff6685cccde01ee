"""The offline snapshot shipped in the package: faithful copies, sourced, and importable."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.prices.importer import import_price_files
from cryptopredict.prices.models import PriceData
from cryptopredict.snapshot import (
    SNAPSHOT_DIR,
    load_coin_catalogue,
    snapshot_price_files,
)
from tests.conftest import REPO_ROOT
from tests.prices_import.conftest import PRICES, data_rows


def test_price_files_are_byte_copies_of_the_shared_data() -> None:
    files = snapshot_price_files()

    assert sorted(path.stem for path in files) == sorted(
        ["bitcoin", "ethereum", "ripple", "litecoin", "cardano", "dogecoin"]
    )
    for path in files:
        assert path.read_bytes() == (PRICES / path.name).read_bytes()


def test_catalogue_names_exactly_the_bundled_coins() -> None:
    catalogue = load_coin_catalogue()

    assert set(catalogue) == {path.stem for path in snapshot_price_files()}
    bitcoin = catalogue["bitcoin"]
    assert (bitcoin.symbol, bitcoin.name, bitcoin.market_cap_rank) == ("btc", "Bitcoin", 1)
    assert all(path.stem in catalogue for path in snapshot_price_files())


def test_snapshot_is_documented_as_historical_with_its_sources() -> None:
    text = (SNAPSHOT_DIR / "SNAPSHOT.md").read_text(encoding="utf-8")

    for needle in (
        "NOT live",
        "Cryptocurrency Historical\nPrices",
        "oodayeshukla/Project_3",
        "ArdentHQ/dashbrd",
        "GPL-3.0",
        "2023-07-28",
    ):
        assert needle in text


def test_every_snapshot_file_is_declared_as_package_data() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["cryptopredict"]
    package_root = SNAPSHOT_DIR.parent
    shipped = [p for p in SNAPSHOT_DIR.rglob("*") if p.is_file() and p.suffix != ".pyc"]

    for path in shipped:
        if path.suffix == ".py":
            continue
        relative = path.relative_to(package_root).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_snapshot_imports_every_row(db_session: Session) -> None:
    files = snapshot_price_files()

    report = import_price_files(files, session=db_session)

    assert report.ok
    expected = sum(data_rows(Path(path)) for path in files)
    assert report.rows_read == report.rows_written == expected == 15169
    stored = select(func.count()).select_from(PriceData).join(Cryptocurrency)
    coins = [path.stem for path in files]
    assert db_session.scalar(stored.where(Cryptocurrency.coingecko_id.in_(coins))) == expected
