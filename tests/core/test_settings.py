"""Settings come from CRYPTOPREDICT_* variables; production refuses unsafe secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from cryptopredict.core.config import InsecureConfigurationError, Settings


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRYPTOPREDICT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("CRYPTOPREDICT_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("CRYPTOPREDICT_COINGECKO_BASE_URL", "http://127.0.0.1:9999/api/v3")
    monkeypatch.setenv("CRYPTOPREDICT_ACCESS_TOKEN_MINUTES", "30")
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert not settings.is_sqlite
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.coingecko_base_url == "http://127.0.0.1:9999/api/v3"
    assert settings.access_token_minutes == 30


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/cryptopredict.db"
    assert settings.is_sqlite


def test_production_refuses_missing_or_short_secret(tmp_path: Path) -> None:
    with pytest.raises((InsecureConfigurationError, ValidationError)):
        Settings(env="production", data_dir=tmp_path)
    with pytest.raises((InsecureConfigurationError, ValidationError)):
        Settings(env="production", data_dir=tmp_path, secret_key="too-short")
    ok = Settings(env="production", data_dir=tmp_path, secret_key="x" * 40)
    assert ok.signing_key == "x" * 40


def test_production_refuses_a_generated_development_key(tmp_path: Path) -> None:
    dev_key = Settings(data_dir=tmp_path).signing_key
    with pytest.raises((InsecureConfigurationError, ValidationError)):
        Settings(env="production", data_dir=tmp_path, secret_key=dev_key)


def test_development_key_is_random_private_and_stable(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "a").signing_key
    again = Settings(data_dir=tmp_path / "a").signing_key
    other = Settings(data_dir=tmp_path / "b").signing_key
    assert first == again and first != other and len(first) >= 32
    mode = (tmp_path / "a" / ".secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_secrets_never_appear_in_repr(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="super-secret-value-123", coingecko_api_key="cg-key-456"
    )
    text = repr(settings) + str(settings)
    assert "super-secret-value-123" not in text and "cg-key-456" not in text


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("metrics.internal:65535", ("metrics.internal", 65535)),
        ("", None),
    ],
)
def test_the_metrics_address_is_read_as_host_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str, expected: object
) -> None:
    monkeypatch.setenv("CRYPTOPREDICT_METRICS_ADDRESS", address)
    assert Settings(data_dir=tmp_path).metrics_listen_address == expected


@pytest.mark.parametrize(
    "address",
    ["9100", "127.0.0.1", ":9100", "127.0.0.1:0", "127.0.0.1:65536", "[::1:9100", "[x]:1",
     "a b:9100", "127.0.0.1:９１００", "http://127.0.0.1:9100"],
)  # fmt: skip
def test_a_malformed_metrics_address_is_refused(tmp_path: Path, address: str) -> None:
    with pytest.raises(ValidationError, match="metrics_address"):
        Settings(data_dir=tmp_path, metrics_address=address)
