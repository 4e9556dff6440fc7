"""The keyring: file format, rotation states, and production's refusal of dev keys."""

from __future__ import annotations

import base64
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import Settings
from welfare.app import create_app
from welfare.crypto.keyring import (
    Keyring,
    KeyringError,
    KeyState,
    load_keyring,
    load_or_generate_development_keyring,
    save_keyring,
)


def test_a_saved_keyring_loads_back_identically_and_is_private(tmp_path: Path) -> None:
    ring = Keyring.generate(for_development=False)
    path = tmp_path / "ring.json"
    save_keyring(ring, path)
    assert load_keyring(path) == ring
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_material_never_appears_in_repr() -> None:
    ring = Keyring.generate(for_development=True)
    assert ring.active.secret.hex() not in repr(ring)
    assert repr(ring.active.secret) not in repr(ring)


def test_rotation_leaves_one_active_key_and_the_old_one_decrypt_only() -> None:
    ring = Keyring.generate(for_development=False)
    old = ring.active
    rotated = ring.with_new_active_key(datetime(2026, 11, 24, tzinfo=UTC))
    assert rotated.active.id != old.id
    assert rotated.master(old.id).state is KeyState.DECRYPT_ONLY
    retired = rotated.with_key_state(old.id, KeyState.RETIRED)
    with pytest.raises(KeyringError, match="retired"):
        retired.master(old.id)


def test_a_keyring_with_two_active_keys_is_refused() -> None:
    ring = Keyring.generate(for_development=False)
    data = ring.with_new_active_key(datetime(2026, 1, 1, tzinfo=UTC)).to_json()
    for key in data["master_keys"]:
        key["state"] = "active"
    with pytest.raises(KeyringError, match="exactly one active"):
        Keyring.from_json(data)


def test_a_malformed_keyring_is_refused_without_echoing_keys(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text('{"format": 1, "master_keys": [], "index_key": "AAAA"}')
    with pytest.raises(KeyringError):
        load_keyring(path)


def test_development_generates_its_keyring_once(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    first, created = load_or_generate_development_keyring(path)
    again, created_again = load_or_generate_development_keyring(path)
    assert created and not created_again
    assert first == again
    assert first.generated_for_development


def test_production_refuses_a_generated_development_keyring(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "dev.json"
    load_or_generate_development_keyring(path)
    prod = replace(
        settings,
        env="production",
        keyring_file=path,
        keyring_file_is_default=False,
        argon2_profile="standard",
    )
    with pytest.raises(KeyringError, match="development keyring"):
        create_app(prod)


def test_retiring_a_key_erases_its_secret_from_the_saved_file(tmp_path: Path) -> None:
    ring = Keyring.generate(for_development=False)
    old = ring.active
    retired = ring.with_new_active_key(datetime(2026, 11, 24, tzinfo=UTC)).with_key_state(
        old.id, KeyState.RETIRED
    )
    path = tmp_path / "ring.json"
    save_keyring(retired, path)
    text = path.read_text()
    assert old.id in text  # kept as a record
    assert base64.b64encode(old.secret).decode() not in text
    loaded = load_keyring(path)
    assert loaded == retired
    assert next(k for k in loaded.master_keys if k.id == old.id).secret == b""


def test_a_retired_key_never_comes_back_and_the_active_key_cannot_retire() -> None:
    ring = Keyring.generate(for_development=False)
    old = ring.active
    rotated = ring.with_new_active_key(datetime(2026, 11, 24, tzinfo=UTC))
    with pytest.raises(KeyringError, match="active key"):
        rotated.with_key_state(rotated.active.id, KeyState.RETIRED)
    retired = rotated.with_key_state(old.id, KeyState.RETIRED)
    with pytest.raises(KeyringError, match="retired"):
        retired.with_key_state(old.id, KeyState.DECRYPT_ONLY)
    with pytest.raises(KeyringError, match="rotation"):
        rotated.with_key_state(old.id, KeyState.ACTIVE)  # one active key, made by rotation only
