"""Settings are read once, default safely, and production refuses unsafe values by name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config import Settings, SettingsError
from config.settings import ENVIRONMENT
from welfare.crypto.keyring import Keyring, save_keyring


def test_development_defaults_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"WELFARE_DATA_DIR": str(tmp_path)})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'welfare.db').resolve()}"
    assert settings.keyring_file == tmp_path / "keyring.json"
    assert settings.keyring_file_is_default


def test_postgres_urls_use_psycopg_3() -> None:
    settings = Settings.from_env({"WELFARE_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="WELFARE_ENV"):
        Settings.from_env({"WELFARE_ENV": "staging"})


def test_api_tokens_live_90_days_unless_configured_within_bounds() -> None:
    assert Settings.from_env({}).api_token_lifetime == timedelta(days=90)
    assert Settings.from_env({"WELFARE_API_TOKEN_DAYS": "30"}).api_token_lifetime == timedelta(
        days=30
    )
    for bad in ("0", "731", "-1", "forever"):
        with pytest.raises(SettingsError, match="WELFARE_API_TOKEN_DAYS"):
            Settings.from_env({"WELFARE_API_TOKEN_DAYS": bad})
    assert "WELFARE_API_TOKEN_DAYS" in ENVIRONMENT


def test_a_non_numeric_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="WELFARE_MAX_BODY_BYTES"):
        Settings.from_env({"WELFARE_MAX_BODY_BYTES": "lots"})


def test_production_without_secret_or_keyring_names_both() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"WELFARE_ENV": "production"})
    assert "WELFARE_SECRET_KEY" in str(error.value)
    assert "WELFARE_KEYRING_FILE" in str(error.value)


def test_production_refuses_a_short_secret(tmp_path: Path) -> None:
    ring = tmp_path / "ring.json"
    save_keyring(Keyring.generate(for_development=False), ring)
    with pytest.raises(SettingsError, match="shorter than 32"):
        Settings.from_env(
            {
                "WELFARE_ENV": "production",
                "WELFARE_SECRET_KEY": "short",
                "WELFARE_KEYRING_FILE": str(ring),
            }
        )


def test_production_refuses_a_missing_keyring_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_env(
            {
                "WELFARE_ENV": "production",
                "WELFARE_SECRET_KEY": "x" * 40,
                "WELFARE_KEYRING_FILE": str(tmp_path / "missing.json"),
            }
        )


def test_production_accepts_safe_settings(tmp_path: Path) -> None:
    ring = tmp_path / "ring.json"
    save_keyring(Keyring.generate(for_development=False), ring)
    settings = Settings.from_env(
        {
            "WELFARE_ENV": "production",
            "WELFARE_SECRET_KEY": "x" * 40,
            "WELFARE_KEYRING_FILE": str(ring),
        }
    )
    assert settings.is_production
