"""Password hashing (Argon2id) and the password policy.

Policy follows ASVS 5.0 / NIST 800-63B: 12 to 128 characters, no composition rules, refused when
common or built from the user's own name; compared exactly as typed (no trimming or folding).
See docs/security-model.md, "Passwords, logins and sessions".
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from config.reference import REFERENCE_DIR

MIN_LENGTH = 12
MAX_LENGTH = 128
COMMON_PASSWORDS_FILE = REFERENCE_DIR / "common_passwords.txt"


class PasswordPolicyError(ValueError):
    """The new password breaks the policy; `code` is stable, the message Korean-first."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def make_hasher(profile: str = "standard") -> PasswordHasher:
    """argon2-cffi's RFC 9106 low-memory profile (t=3, 64 MiB, p=4); tests use a cheap one."""
    if profile == "fast":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    if stored_hash is None:
        # Spend the same time as a real check so unknown users are not told apart by timing.
        hasher.hash(password)
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_password_policy(password: str, *, username: str, display_name: str = "") -> None:
    """Raise PasswordPolicyError when `password` may not be used by this person."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(
            "password_too_short", f"비밀번호는 {MIN_LENGTH}자 이상이어야 합니다 (too short)"
        )
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(
            "password_too_long", f"비밀번호는 {MAX_LENGTH}자 이하여야 합니다 (too long)"
        )
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) <= 2:
        raise PasswordPolicyError(
            "password_common", "흔히 쓰이는 비밀번호는 사용할 수 없습니다 (too common)"
        )
    for own in (username, display_name.replace(" ", "")):
        if len(own) >= 3 and own.lower() in lowered.replace(" ", ""):
            raise PasswordPolicyError(
                "password_contains_name",
                "아이디나 이름이 들어간 비밀번호는 사용할 수 없습니다 (contains your name)",
            )
