"""One settings object, read from `CRYPTOPREDICT_*` environment variables (and `.env`)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_PRODUCTION_SECRET_LENGTH = 32
GENERATED_KEY_PREFIX = "dev-"
DEMO_API_ROOT = "https://api.coingecko.com/api/v3"
PRO_API_ROOT = "https://pro-api.coingecko.com/api/v3"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
"""A host name or an IPv4 address: dot-separated labels of letters, digits and hyphens."""


class InsecureConfigurationError(RuntimeError):
    """Raised when production mode is asked to start with unsafe settings."""


class Settings(BaseSettings):
    """Runtime configuration; every field maps to `CRYPTOPREDICT_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="CRYPTOPREDICT_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    model_dir: Path | None = None
    web_dir: Path | None = None
    """The dashboard's static export, served at `/` when set (`serve` sets it to the
    checkout's `frontend/out` when that is built and this is unset)."""
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr | None = Field(default=None, repr=False)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    coingecko_base_url: str = DEMO_API_ROOT
    coingecko_api_key: SecretStr | None = Field(default=None, repr=False)
    coingecko_key_type: Literal["demo", "pro"] = "demo"
    coingecko_calls_per_minute: int = Field(default=30, ge=1, le=10_000)
    coingecko_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    coingecko_max_retries: int = Field(default=4, ge=0, le=10)
    coingecko_max_backoff_seconds: float = Field(default=60.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=60.0, gt=0)
    sync_top_coins: int = Field(default=250, ge=1, le=5000)
    stale_after_minutes: int = Field(default=30, ge=1)
    """Stored prices older than this are reported stale (`/sync/freshness`), so the dashboard
    warns that it shows old data; the prices sync runs every 5 minutes."""
    login_max_attempts: int = Field(default=5, ge=1)
    """Failed logins to one account from one address before that pair is slowed down."""
    login_account_max_attempts: int = Field(default=100, ge=1)
    """Failed logins to one account from all addresses in a window before the account is held
    back: a ceiling against guessing spread over many addresses."""
    login_window_seconds: int = Field(default=300, ge=1)
    login_ip_max_attempts: int = Field(default=30, ge=1)
    """Distinct accounts one address may fail to log in to in a window before it may try no
    further account (the ones it failed on stay under their own holds): stops spraying, while
    failures behind a shared address lock out no one else. Counts accounts, not failures,
    despite the name, which is kept so existing configurations still apply."""
    register_max_attempts: int = Field(default=10, ge=1)
    """Registrations (successful or not) from one address in `register_window_seconds` before
    the next is refused with 429: a brake on mass sign-ups and on probing for taken emails."""
    register_window_seconds: int = Field(default=3600, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses whose X-Forwarded-For / X-Forwarded-Proto `serve` believes; none by default,
    so a client cannot choose the address its login attempts are counted under."""
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_url_bytes: int = Field(default=16 * 1024, ge=256)
    """The longest request target (path and query, as sent) served; a longer one gets 414.
    Above every length the OpenAPI document allows (100 coin ids of 100 characters) and as
    Cloudflare's, so CoinGecko clients passing long id lists keep working."""
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    """The largest header section (each field's name, value, ": " and CRLF) served; a larger
    one gets 431. `serve` enforces it while reading, so an endless header costs no memory."""
    cache_ttl_seconds: float = Field(default=30.0, ge=0, le=3600)
    forecast_expiry_bars: int = Field(default=7, ge=1, le=3650)
    """A model whose training data ends more than this many bars before the newest bar is not
    served: naive is, and the forecast says why (retraining is daily, so 7 is a week late)."""
    log_level: str = "INFO"
    scheduler: Literal["auto", "embedded", "off"] = "auto"
    """auto: `serve` runs the schedule in-process without Redis, and leaves it to Celery beat
    with Redis; embedded: always in-process; off: never in the server."""
    task_period_overrides: dict[str, float] = Field(default_factory=dict)
    """Seconds per task name replacing SCHEDULE's periods (compressed clocks in tests, or
    operators' tuning), e.g. `{"sync_all_prices": 60}`."""
    task_run_retention_days: int = Field(default=30, ge=1)
    task_retry_base_seconds: float = Field(default=30.0, ge=0.01, le=600)
    """The wait before the first retry of a temporary task failure; each further retry
    waits twice as long (jittered, capped at 10 minutes)."""
    broker_visibility_timeout_seconds: int = Field(default=3600, ge=5)
    """How long a task taken by a worker that died stays invisible before redelivery."""
    training_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Model kinds the scheduled retraining and the train trigger backtest (comma-separated,
    e.g. `drift,arima,lightgbm`); empty: every shipped model. Naive always joins as the bar."""
    retention_5m_days: int = Field(default=7, ge=1)
    """5-minute points older than this are downsampled into hourly bars."""
    retention_1h_days: int = Field(default=90, ge=1)
    """Hourly points older than this are downsampled into daily bars (kept forever)."""
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    """How often `/api/v1/stream` sends a heartbeat comment to every open stream."""
    stream_buffer_events: int = Field(default=10_000, ge=1, le=1_000_000)
    """Events kept for streams that reconnect with Last-Event-ID (in Redis with Redis)."""
    metrics_address: str | None = None
    """`HOST:PORT` (`[::1]:9100` for IPv6) where `serve` also answers Prometheus scrapes,
    without authentication: bind it to loopback or a private network. Unset: only admins
    read metrics, at `/metrics`."""

    @field_validator("cors_origins", "trusted_proxies", "training_models", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept a comma-separated list, the natural form in an environment variable."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("metrics_address")
    @classmethod
    def _check_metrics_address(cls, value: str | None) -> str | None:
        """HOST:PORT with a port in 1-65535 and an IP address or host name; empty is unset."""
        if not value:
            return None
        parse_address(value)
        return value

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        """Production must be given a long secret; development never needs one typed in."""
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if self.env == "production" and (
            len(key) < MIN_PRODUCTION_SECRET_LENGTH or key.startswith(GENERATED_KEY_PREFIX)
        ):
            raise InsecureConfigurationError(
                "CRYPTOPREDICT_SECRET_KEY must be set to a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters in production"
            )
        return self

    @property
    def signing_key(self) -> str:
        """The JWT key: the configured secret, or in development a random one kept in the
        data directory so tokens survive restarts without any secret living in code."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _development_key(self.data_dir.resolve())

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cryptopredict.db').resolve()}"

    @property
    def resolved_model_dir(self) -> Path:
        """Where trained model artifacts live: the configured folder or DATA_DIR/models."""
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    @property
    def coingecko_root(self) -> str:
        """The API root: a pro key needs the pro host unless another root was configured."""
        if self.coingecko_key_type == "pro" and self.coingecko_base_url == DEMO_API_ROOT:
            return PRO_API_ROOT
        return self.coingecko_base_url.rstrip("/")

    @property
    def metrics_listen_address(self) -> tuple[str, int] | None:
        """The metrics listener's host and port, if one is configured."""
        return parse_address(self.metrics_address) if self.metrics_address else None

    @property
    def is_sqlite(self) -> bool:
        """Whether the embedded default database is in use."""
        return self.resolved_database_url.startswith("sqlite")


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` as host and port; ValueError says what is wrong."""
    host, separator, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: not an IPv6 address in brackets") from None
    elif not _HOST_NAME.match(host):
        raise ValueError(f"{value!r} must be HOST:PORT, e.g. 127.0.0.1:9100")
    if not (separator and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    return host, int(port)


@lru_cache(maxsize=8)
def _development_key(data_dir: Path) -> str:
    """Read or create (mode 0600) the per-installation development signing key."""
    path = data_dir / ".secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = GENERATED_KEY_PREFIX + secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
