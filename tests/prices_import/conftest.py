"""Helpers for the importer tests: the shared price files and small hand-edited copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import INTRADAY_PRICES, SNAPSHOT_PRICES

PRICES = SNAPSHOT_PRICES
INTRADAY = INTRADAY_PRICES / "bitcoin_1h.csv"


def data_rows(path: Path) -> int:
    """Data rows of a CSV file: its non-empty lines after the header."""
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip()) - 1


@pytest.fixture
def edited_copy(tmp_path: Path) -> Callable[..., Path]:
    """Writes the first `lines` lines of a shared price file, with some lines replaced."""

    def make(
        source: Path,
        *,
        name: str | None = None,
        lines: int = 30,
        replace: dict[int, str] | None = None,
    ) -> Path:
        text = source.read_text(encoding="utf-8").splitlines()[:lines]
        for number, content in (replace or {}).items():
            text[number - 1] = content
        target = tmp_path / (name or source.name)
        target.write_text("\n".join(text) + "\n", encoding="utf-8")
        return target

    return make
