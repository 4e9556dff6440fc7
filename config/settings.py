"""Typed, frozen settings read once from the environment; production refuses unsafe values.

Every environment variable the service reads is listed in `ENVIRONMENT` with its meaning, so the
README and `welfare --help` can never drift from the code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

ENVIRONMENT: Final[dict[str, str]] = {
    "WELFARE_ENV": "development (default), test or production",
    "WELFARE_DATA_DIR": "directory for the embedded SQLite file and the dev keyring (./instance)",
    "WELFARE_DATABASE_URL": "SQLAlchemy URL; overrides the embedded SQLite file",
    "WELFARE_KEYRING_FILE": "keyring JSON file; overrides the generated development keyring",
    "WELFARE_SECRET_KEY": "Flask secret key (at least 32 characters in production)",
    "WELFARE_LOG_LEVEL": "logging level (INFO)",
    "WELFARE_MAX_BODY_BYTES": "largest accepted request body in bytes (1048576)",
    "WELFARE_RATELIMIT_STORAGE_URL": "flask-limiter storage, e.g. redis://host:6379 (memory://)",
    "WELFARE_SCHEDULER_INTERVAL_SECONDS": "seconds between scheduler ticks (60)",
    "WELFARE_SCHEDULER_STALE_SECONDS": "age of the last good tick that fails /readyz (600)",
    "WELFARE_TRUSTED_PROXIES": "number of reverse proxies whose X-Forwarded-For is trusted (0)",
    "WELFARE_ARGON2_PROFILE": "password hashing cost: 'standard' (default) or 'fast' (tests only)",
    "WELFARE_API_TOKEN_DAYS": "days a new API token stays valid before it expires (90; 1-730)",
    "WELFARE_RISK_LEVELS_FILE": "Ongi risk levels JSON; overrides config/risk_levels.json",
    "WELFARE_LADDERS_FILE": "escalation ladders JSON; overrides config/escalation_ladders.json",
    "WELFARE_AUDIT_CHECKPOINT_FILE": (
        "append-only JSON-lines file for the signed audit checkpoints "
        "(embedded default: <data dir>/audit-checkpoints.jsonl)"
    ),
    "WELFARE_AUDIT_CHECKPOINT_DIR": (
        "directory, ideally mounted from another system, where each host appends its signed "
        "audit checkpoints (scaled mode)"
    ),
    "WELFARE_AUDIT_CHECKPOINT_SYSLOG": (
        "send the signed audit checkpoints to syslog instead: /dev/log, udp://host:514 or "
        "tcp://host:514 (scaled mode)"
    ),
    "WELFARE_AUDIT_CHECKPOINT_SECONDS": "seconds between audit checkpoints (300)",
    "WELFARE_OUTBOX_WEBHOOK_URL": (
        "URL the outbox POSTs notifications to (an SMS/KakaoTalk relay); unset: they are only "
        "logged (the development default)"
    ),
    "WELFARE_OUTBOX_WEBHOOK_SECRET": "HMAC key signing each webhook POST (32+ characters)",
    "WELFARE_OUTBOX_WEBHOOK_TIMEOUT_SECONDS": "seconds a webhook POST may take (5)",
    "WELFARE_ERASURE_LEDGER": (
        "file, or existing shared directory, outside the database where every erasure is "
        "recorded and replayed after a restore (embedded default: <data dir>/erasure-ledger.jsonl;"
        " scaled default: the audit checkpoint directory)"
    ),
    "WELFARE_AUDIT_LINK_SECONDS": "seconds between runs linking access records into the chain (5)",
    "WELFARE_CONTACT_RETENTION_DAYS": (
        "PostgreSQL: days after which contacts go, a month at a time, except on open cases "
        "(unset: contacts are kept)"
    ),
    "WELFARE_SCHEDULER_RUNS_KEEP_DAYS": "days scheduler runs are kept (7; failed runs: below)",
    "WELFARE_SCHEDULER_RUNS_KEEP_FAILED_DAYS": "days failed scheduler runs are kept (90)",
    "WELFARE_METRICS_TOKEN": (
        "bearer token Prometheus sends to GET /metrics (at least 32 characters; unset: no /metrics)"
    ),
}

VALID_ENVS: Final = ("development", "test", "production")
DEFAULT_CHECKPOINT_FILE: Final = "audit-checkpoints.jsonl"
DEFAULT_ERASURE_LEDGER_FILE: Final = "erasure-ledger.jsonl"
SYSLOG_ADDRESS: Final = re.compile(r"^(/\S+|(udp|tcp)://[A-Za-z0-9.\-\[\]:]+:\d{1,5})$")
DEV_SECRET_KEY: Final = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - refused in production
MIN_SECRET_LENGTH: Final = 32
DEFAULT_API_TOKEN_LIFETIME: Final = timedelta(days=90)
MAX_API_TOKEN_LIFETIME: Final = timedelta(days=730)  # a forgotten token must die some day


WEB_LANES = ("all", "staff", "gateway")


class SettingsError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable and what to do."""


@dataclass(frozen=True, slots=True)
class CheckpointSinkSetting:
    """Where the signed audit checkpoints go: outside the database, never inside it."""

    kind: str  # "file", "dir" or "syslog"
    target: str  # a path, or a syslog address

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to know about its environment, validated at start-up."""

    env: str = "development"
    data_dir: Path = Path("instance")
    database_url: str = ""
    keyring_file: Path = Path("instance/keyring.json")
    keyring_file_is_default: bool = True
    secret_key: str = DEV_SECRET_KEY
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    ratelimit_storage_url: str = "memory://"
    scheduler_interval: timedelta = timedelta(seconds=60)
    scheduler_stale_after: timedelta = timedelta(seconds=600)
    trusted_proxies: int = 0
    argon2_profile: str = "standard"
    # Which requests this web node serves (docs/operations.md, "Lanes"): every one ("all"),
    # staff only ("staff": gateway-only routes answer 421), or gateways only ("gateway").
    web_lane: str = "all"
    api_token_lifetime: timedelta = DEFAULT_API_TOKEN_LIFETIME
    risk_levels_file: Path | None = None  # None: the file shipped in config/
    ladders_file: Path | None = None  # None: the file shipped in config/
    # At most one of the three checkpoint sinks; none set: the embedded default (SQLite only).
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_syslog: str | None = None
    audit_checkpoint_interval: timedelta = timedelta(seconds=300)
    erasure_ledger: Path | None = None  # None: the default below
    audit_link_interval: timedelta = timedelta(seconds=5)
    scheduler_runs_keep: timedelta = timedelta(days=7)
    contact_retention: timedelta | None = None  # None: contacts are kept
    scheduler_runs_keep_failed: timedelta = timedelta(days=90)
    metrics_token: str | None = None  # None: GET /metrics answers 404
    outbox_webhook_url: str = ""  # empty: notifications are only logged
    outbox_webhook_secret: str = ""
    outbox_webhook_timeout: float = 5.0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def audit_checkpoint_sink(self) -> CheckpointSinkSetting | None:
        """The configured checkpoint sink; in embedded mode (SQLite) a file in the data dir by
        default; None in scaled mode until one is configured."""
        if self.audit_checkpoint_file is not None:
            return CheckpointSinkSetting("file", str(self.audit_checkpoint_file))
        if self.audit_checkpoint_dir is not None:
            return CheckpointSinkSetting("dir", str(self.audit_checkpoint_dir))
        if self.audit_checkpoint_syslog is not None:
            return CheckpointSinkSetting("syslog", self.audit_checkpoint_syslog)
        if self.is_sqlite:
            return CheckpointSinkSetting("file", str(self.data_dir / DEFAULT_CHECKPOINT_FILE))
        return None

    @property
    def erasure_ledger_path(self) -> Path | None:
        """Where erasures are recorded outside the database: the setting; else, embedded, a
        file in the data dir; else the audit checkpoint directory (one file per host there);
        None in scaled mode until one of them is configured."""
        if self.erasure_ledger is not None:
            return self.erasure_ledger
        if self.is_sqlite:
            return self.data_dir / DEFAULT_ERASURE_LEDGER_FILE
        return self.audit_checkpoint_dir

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Fail at start-up, not mid-request, when something is missing or unsafe."""
        env = os.environ if env is None else env
        name = env.get("WELFARE_ENV", "development").strip() or "development"
        if name not in VALID_ENVS:
            raise SettingsError(f"WELFARE_ENV={name!r} is not one of {', '.join(VALID_ENVS)}.")
        data_dir = Path(env.get("WELFARE_DATA_DIR", "instance")).expanduser()
        database_url = env.get("WELFARE_DATABASE_URL", "").strip()
        if not database_url:
            database_url = f"sqlite:///{(data_dir / 'welfare.db').resolve()}"
        database_url = with_psycopg_driver(database_url)
        keyring_env = env.get("WELFARE_KEYRING_FILE", "").strip()
        keyring_file = Path(keyring_env).expanduser() if keyring_env else data_dir / "keyring.json"
        settings = cls(
            env=name,
            data_dir=data_dir,
            database_url=database_url,
            keyring_file=keyring_file,
            keyring_file_is_default=not keyring_env,
            secret_key=env.get("WELFARE_SECRET_KEY", "") or DEV_SECRET_KEY,
            log_level=env.get("WELFARE_LOG_LEVEL", "INFO").upper(),
            max_body_bytes=_int(env, "WELFARE_MAX_BODY_BYTES", 1024 * 1024),
            ratelimit_storage_url=env.get("WELFARE_RATELIMIT_STORAGE_URL", "memory://"),
            scheduler_interval=timedelta(
                seconds=_int(env, "WELFARE_SCHEDULER_INTERVAL_SECONDS", 60)
            ),
            scheduler_stale_after=timedelta(
                seconds=_int(env, "WELFARE_SCHEDULER_STALE_SECONDS", 600)
            ),
            trusted_proxies=_int(env, "WELFARE_TRUSTED_PROXIES", 0),
            argon2_profile=env.get("WELFARE_ARGON2_PROFILE", "standard"),
            web_lane=env.get("WELFARE_WEB_LANE", "all"),
            api_token_lifetime=timedelta(
                days=_int(env, "WELFARE_API_TOKEN_DAYS", DEFAULT_API_TOKEN_LIFETIME.days)
            ),
            risk_levels_file=_optional_path(env, "WELFARE_RISK_LEVELS_FILE"),
            ladders_file=_optional_path(env, "WELFARE_LADDERS_FILE"),
            audit_checkpoint_file=_optional_path(env, "WELFARE_AUDIT_CHECKPOINT_FILE"),
            audit_checkpoint_dir=_optional_path(env, "WELFARE_AUDIT_CHECKPOINT_DIR"),
            audit_checkpoint_syslog=env.get("WELFARE_AUDIT_CHECKPOINT_SYSLOG", "").strip() or None,
            audit_link_interval=timedelta(seconds=_int(env, "WELFARE_AUDIT_LINK_SECONDS", 5)),
            metrics_token=env.get("WELFARE_METRICS_TOKEN", "").strip() or None,
            scheduler_runs_keep=timedelta(days=_int(env, "WELFARE_SCHEDULER_RUNS_KEEP_DAYS", 7)),
            contact_retention=(
                timedelta(days=_int(env, "WELFARE_CONTACT_RETENTION_DAYS", 0))
                if env.get("WELFARE_CONTACT_RETENTION_DAYS", "").strip()
                else None
            ),
            scheduler_runs_keep_failed=timedelta(
                days=_int(env, "WELFARE_SCHEDULER_RUNS_KEEP_FAILED_DAYS", 90)
            ),
            audit_checkpoint_interval=timedelta(
                seconds=_int(env, "WELFARE_AUDIT_CHECKPOINT_SECONDS", 300)
            ),
            erasure_ledger=_optional_path(env, "WELFARE_ERASURE_LEDGER"),
            outbox_webhook_url=env.get("WELFARE_OUTBOX_WEBHOOK_URL", "").strip(),
            outbox_webhook_secret=env.get("WELFARE_OUTBOX_WEBHOOK_SECRET", ""),
            outbox_webhook_timeout=float(_int(env, "WELFARE_OUTBOX_WEBHOOK_TIMEOUT_SECONDS", 5)),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that are unsafe for the chosen environment."""
        if self.argon2_profile not in ("standard", "fast"):
            raise SettingsError("WELFARE_ARGON2_PROFILE must be 'standard' or 'fast'.")
        if self.web_lane not in WEB_LANES:
            raise SettingsError(f"WELFARE_WEB_LANE must be one of {', '.join(WEB_LANES)}.")
        if not timedelta(days=1) <= self.api_token_lifetime <= MAX_API_TOKEN_LIFETIME:
            raise SettingsError(
                f"WELFARE_API_TOKEN_DAYS must lie between 1 and {MAX_API_TOKEN_LIFETIME.days}."
            )
        for name, path in (
            ("WELFARE_RISK_LEVELS_FILE", self.risk_levels_file),
            ("WELFARE_LADDERS_FILE", self.ladders_file),
        ):
            if path is not None and not path.is_file():
                raise SettingsError(f"{name} points to {path}, which does not exist.")
        self._check_checkpoint_sink()
        self._check_outbox_webhook()
        if not self.is_production:
            return
        problems: list[str] = []
        if self.secret_key == DEV_SECRET_KEY:
            problems.append(
                "WELFARE_SECRET_KEY is missing or the development default; "
                "set a random value of at least 32 characters"
            )
        elif len(self.secret_key) < MIN_SECRET_LENGTH:
            problems.append(f"WELFARE_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters")
        if self.keyring_file_is_default:
            problems.append(
                "WELFARE_KEYRING_FILE is not set; "
                "production never uses the generated development keyring"
            )
        elif not self.keyring_file.is_file():
            problems.append(
                f"WELFARE_KEYRING_FILE points to {self.keyring_file}, which does not exist"
            )
        if self.argon2_profile != "standard":
            problems.append("WELFARE_ARGON2_PROFILE must be 'standard' in production")
        problems.extend(self._missing_stores_outside_the_database())
        if problems:
            raise SettingsError("Refusing to start in production: " + "; ".join(problems) + ".")

    def _missing_stores_outside_the_database(self) -> list[str]:
        problems: list[str] = []
        if self.audit_checkpoint_sink is None:
            problems.append(
                "no audit checkpoint sink is configured; set WELFARE_AUDIT_CHECKPOINT_DIR or "
                "WELFARE_AUDIT_CHECKPOINT_SYSLOG (a store the database's administrators cannot "
                "rewrite), or WELFARE_AUDIT_CHECKPOINT_FILE"
            )
        if self.erasure_ledger_path is None:
            problems.append(
                "no erasure ledger is configured; set WELFARE_ERASURE_LEDGER (or "
                "WELFARE_AUDIT_CHECKPOINT_DIR), or a restored backup would bring erased residents "
                "back"
            )
        return problems

    def _check_outbox_webhook(self) -> None:
        url = self.outbox_webhook_url
        if not url:
            return
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SettingsError("WELFARE_OUTBOX_WEBHOOK_URL must be an http(s) URL.")
        if (
            self.is_production
            and parsed.scheme != "https"
            and parsed.hostname not in ("127.0.0.1", "::1", "localhost")
        ):
            raise SettingsError("WELFARE_OUTBOX_WEBHOOK_URL must use https in production.")
        if len(self.outbox_webhook_secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"WELFARE_OUTBOX_WEBHOOK_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                "when WELFARE_OUTBOX_WEBHOOK_URL is set."
            )
        if not 0 < self.outbox_webhook_timeout <= 60:
            raise SettingsError("WELFARE_OUTBOX_WEBHOOK_TIMEOUT_SECONDS must lie between 1 and 60.")

    def _check_checkpoint_sink(self) -> None:
        chosen = [
            name
            for name, value in (
                ("WELFARE_AUDIT_CHECKPOINT_FILE", self.audit_checkpoint_file),
                ("WELFARE_AUDIT_CHECKPOINT_DIR", self.audit_checkpoint_dir),
                ("WELFARE_AUDIT_CHECKPOINT_SYSLOG", self.audit_checkpoint_syslog),
            )
            if value is not None
        ]
        if len(chosen) > 1:
            raise SettingsError(f"Set only one of {', '.join(chosen)}.")
        if self.audit_checkpoint_syslog is not None and not SYSLOG_ADDRESS.match(
            self.audit_checkpoint_syslog
        ):
            raise SettingsError(
                "WELFARE_AUDIT_CHECKPOINT_SYSLOG must be a socket path such as /dev/log, "
                "or udp://host:port or tcp://host:port."
            )
        if self.audit_checkpoint_interval < timedelta(seconds=1):
            raise SettingsError("WELFARE_AUDIT_CHECKPOINT_SECONDS must be at least 1.")
        if self.audit_link_interval < timedelta(seconds=1):
            raise SettingsError("WELFARE_AUDIT_LINK_SECONDS must be at least 1.")
        if self.contact_retention is not None and self.contact_retention < timedelta(days=365):
            raise SettingsError(
                "WELFARE_CONTACT_RETENTION_DAYS must be at least 365 (contacts are case records), "
                "or unset to keep contacts."
            )
        if self.scheduler_runs_keep < timedelta(days=1):
            raise SettingsError("WELFARE_SCHEDULER_RUNS_KEEP_DAYS must be at least 1.")
        if self.scheduler_runs_keep_failed < self.scheduler_runs_keep:
            raise SettingsError(
                "WELFARE_SCHEDULER_RUNS_KEEP_FAILED_DAYS must be at least "
                "WELFARE_SCHEDULER_RUNS_KEEP_DAYS: failed runs are kept longer, never shorter."
            )
        if self.metrics_token is not None and len(self.metrics_token) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"WELFARE_METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters "
                "(a random value), or unset to turn GET /metrics off."
            )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number.") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative.")
    return value


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def with_psycopg_driver(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs, the driver the service is tested with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
