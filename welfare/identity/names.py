"""Names: one normal form (NFC, whitespace folded) so exact search finds the same person."""

from __future__ import annotations

import re
import unicodedata

from welfare.identity.errors import IdentityError

MAX_LENGTH = 50
_SPACE = re.compile(r"\s+")


def normalize_name(raw: str) -> str:
    text = _SPACE.sub(" ", unicodedata.normalize("NFC", raw).replace("\u3000", " ")).strip()
    if not text or len(text) > MAX_LENGTH or any(unicodedata.category(c) == "Cc" for c in text):
        raise IdentityError(
            "name_format",
            f"이름은 1~{MAX_LENGTH}자여야 합니다 (name must be 1-{MAX_LENGTH} characters)",
        )
    return text
