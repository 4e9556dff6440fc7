"""The keyring: versioned master keys, the blind-index key and the audit-chain key.

Keys never live in the database. Production loads the keyring from `WELFARE_KEYRING_FILE` (a
file or a mounted secret); development generates one under the data directory on first start,
marked as such so production refuses it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from welfare.crypto.cipher import DATA_KEY_BYTES, FieldKey

KEY_BYTES = 32
KEYRING_FORMAT = 1


class KeyState(StrEnum):
    ACTIVE = "active"  # wraps new data keys
    DECRYPT_ONLY = "decrypt_only"  # still unwraps data keys not yet rewrapped
    RETIRED = "retired"  # kept only as a record (id, dates); its secret is erased


class KeyringError(RuntimeError):
    """The keyring file is missing, malformed or unsafe; the message says what to do."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    id: str
    state: KeyState
    secret: bytes
    created_at: datetime

    def __post_init__(self) -> None:
        # A FieldKey keeps the AESGCM object it wraps and unwraps data keys with, built once
        # per keyring instead of once per data key (a bulk import wraps thousands).
        if len(self.secret) == DATA_KEY_BYTES and type(self.secret) is not FieldKey:
            object.__setattr__(self, "secret", FieldKey(self.secret))

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(id={self.id!r}, state={self.state.value!r})"


@dataclass(frozen=True, slots=True)
class Keyring:
    """All keys of one installation; immutable, replaced as a whole on rotation."""

    master_keys: tuple[MasterKey, ...]
    index_key: bytes
    audit_key: bytes
    generated_for_development: bool = False

    def __repr__(self) -> str:
        return f"Keyring(master_keys={list(self.master_keys)!r})"

    @property
    def active(self) -> MasterKey:
        for key in self.master_keys:
            if key.state is KeyState.ACTIVE:
                return key
        raise KeyringError("the keyring has no active master key")

    def master(self, key_id: str) -> MasterKey:
        for key in self.master_keys:
            if key.id == key_id and key.state is not KeyState.RETIRED:
                return key
        raise KeyringError(f"master key {key_id!r} is not available (unknown or retired)")

    def with_new_active_key(self, now: datetime) -> Keyring:
        """A keyring whose new active key wraps from now on; the old ones stay decrypt-only."""
        demoted = tuple(
            replace(k, state=KeyState.DECRYPT_ONLY) if k.state is KeyState.ACTIVE else k
            for k in self.master_keys
        )
        new = MasterKey(
            id=new_key_id(now),
            state=KeyState.ACTIVE,
            secret=secrets.token_bytes(KEY_BYTES),
            created_at=now,
        )
        return replace(self, master_keys=(*demoted, new))

    def with_key_state(self, key_id: str, state: KeyState) -> Keyring:
        """A keyring with `key_id` moved to `state`; retiring erases the key's secret.

        Retirement is final: the secret is dropped from the keyring (and so from the file once
        saved), which is what makes every backup still wrapped under that key unreadable.
        """
        current = next((k for k in self.master_keys if k.id == key_id), None)
        if current is None:
            raise KeyringError(f"master key {key_id!r} is not in the keyring")
        if current.state is KeyState.RETIRED and state is not KeyState.RETIRED:
            raise KeyringError(f"master key {key_id!r} is retired; its secret is gone for good")
        if state is KeyState.ACTIVE and current.state is not KeyState.ACTIVE:
            raise KeyringError("a new active key comes only from rotation (with_new_active_key)")
        if state is not KeyState.ACTIVE and current.state is KeyState.ACTIVE:
            raise KeyringError(f"master key {key_id!r} is the active key; rotate first")
        secret = b"" if state is KeyState.RETIRED else current.secret
        return replace(
            self,
            master_keys=tuple(
                replace(k, state=state, secret=secret) if k.id == key_id else k
                for k in self.master_keys
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": KEYRING_FORMAT,
            "generated_for_development": self.generated_for_development,
            "master_keys": [
                {
                    "id": k.id,
                    "state": k.state.value,
                    "created_at": k.created_at.isoformat(),
                    "key": None if k.state is KeyState.RETIRED else _b64(k.secret),
                }
                for k in self.master_keys
            ],
            "index_key": _b64(self.index_key),
            "audit_key": _b64(self.audit_key),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Keyring:
        try:
            if data.get("format") != KEYRING_FORMAT:
                raise KeyringError(f"unsupported keyring format {data.get('format')!r}")
            keys = tuple(_master_key_from_json(k) for k in data["master_keys"])
            ring = cls(
                master_keys=keys,
                index_key=_unb64(data["index_key"], "index_key"),
                audit_key=_unb64(data["audit_key"], "audit_key"),
                generated_for_development=bool(data.get("generated_for_development")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringError(f"the keyring is malformed ({type(exc).__name__}: {exc})") from None
        if len({k.id for k in keys}) != len(keys):
            raise KeyringError("the keyring has two master keys with the same id")
        ring.active  # noqa: B018 - validates that exactly one key wraps
        if sum(k.state is KeyState.ACTIVE for k in keys) != 1:
            raise KeyringError("the keyring must have exactly one active master key")
        return ring

    @classmethod
    def generate(cls, *, for_development: bool, now: datetime | None = None) -> Keyring:
        now = now or datetime.now(UTC)
        key = MasterKey(
            id=new_key_id(now),
            state=KeyState.ACTIVE,
            secret=secrets.token_bytes(KEY_BYTES),
            created_at=now,
        )
        return cls(
            master_keys=(key,),
            index_key=secrets.token_bytes(KEY_BYTES),
            audit_key=secrets.token_bytes(KEY_BYTES),
            generated_for_development=for_development,
        )


def _master_key_from_json(data: dict[str, Any]) -> MasterKey:
    state = KeyState(data["state"])
    return MasterKey(
        id=str(data["id"]),
        state=state,
        # A retired key is a record only: its secret was erased when it retired.
        secret=b""
        if state is KeyState.RETIRED
        else _unb64(data["key"], f"master key {data['id']}"),
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def new_key_id(now: datetime) -> str:
    return f"mk-{now:%Y%m%d}-{secrets.token_hex(3)}"


def load_keyring(path: Path) -> Keyring:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyringError(f"keyring file {path} does not exist") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise KeyringError(f"keyring file {path} is not valid JSON") from None
    return Keyring.from_json(data)


def save_keyring(keyring: Keyring, path: Path) -> None:
    """Write atomically with mode 0600 (its folder 0700 when created here), so a crash never
    leaves half a keyring and no other account can read it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keyring.to_json(), fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class KeyringFile:
    """The keyring file, watched: nodes pick up `welfare keys rotate` and `retire` without a
    restart (docs/operations.md, "Keys").

    `current()` is cheap enough for every request: at most once per `interval` seconds it
    stats the file (modification time, size, inode; a secret mount swapped by symlink counts),
    and only when that changed does it read and parse the file again. A file that cannot be
    read or parsed leaves the keyring in use as it is (the writer replaces the file atomically,
    so that is a broken install, reported by `error`), and the next check tries again.
    """

    def __init__(self, path: Path, keyring: Keyring, *, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self.keyring = keyring
        self.generation = 0  # how many times a changed keyring was picked up
        self.error: str | None = None
        self._stamp = self._stat()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self, *, force: bool = False) -> tuple[Keyring, bool]:
        """The keyring to use now, and whether it just changed."""
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return self.keyring, False
        with self._lock:
            if not force and now - self._checked < self.interval:
                return self.keyring, False  # another thread checked meanwhile
            self._checked = now
            stamp = self._stat()
            if stamp is None or stamp == self._stamp:
                return self.keyring, False
            try:
                fresh = load_keyring(self.path)
            except KeyringError as exc:
                self.error = str(exc)
                return self.keyring, False
            self._stamp, self.error = stamp, None
            if fresh.to_json() == self.keyring.to_json():
                return self.keyring, False  # touched, not changed
            self.keyring = fresh
            self.generation += 1
            return fresh, True


def load_or_generate_development_keyring(path: Path) -> tuple[Keyring, bool]:
    """Load the development keyring, creating it on first start. Returns (keyring, created)."""
    if path.exists():
        return load_keyring(path), False
    keyring = Keyring.generate(for_development=True)
    save_keyring(keyring, path)
    return keyring, True


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(value: str, what: str) -> bytes:
    raw = base64.b64decode(value, validate=True)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes")
    return raw
