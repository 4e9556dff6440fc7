"""Personal names in one normal form, so that exact-match search finds what was typed.

The same name reaches the system composed (NFC, from most keyboards) or decomposed into jamo
(NFD, from macOS file names and some copy-paste paths), with full-width spaces from Korean
input methods and tabs from spreadsheets. Stored and searched names are all NFC with single
spaces, so the three spellings of "홍길동" compare equal as strings and as blind-index inputs.
"""

from __future__ import annotations

import unicodedata

from welfare.identity.errors import IdentityError

MAX_NAME_LENGTH = 50  # characters after normalization

# Hangul fillers are letters (category Lo) yet render as nothing; they are the known way to make
# a "blank" name that passes a non-empty check, so they are refused like invisible controls.
_HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def normalize_name(raw: str) -> str:
    """Return `raw` in NFC with runs of whitespace folded to one space and the ends stripped.

    Raises `IdentityError("name_format")` for an empty name, one longer than 50 characters, or
    one with control, format (zero-width, bidirectional) or other invisible characters.
    """
    # str.split() without arguments splits on every Unicode whitespace character: tabs, new
    # lines, no-break and ideographic (full-width) spaces.
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise IdentityError("name_format", "이름을 입력하세요 (name is empty)")
    if any(_is_invisible(ch) for ch in name):
        # Two names that look the same must not differ by a character nobody can see, and
        # bidirectional overrides can make a name display as another.
        raise IdentityError(
            "name_format",
            "이름에 제어 문자나 보이지 않는 문자를 쓸 수 없습니다 "
            "(control or invisible characters)",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise IdentityError(
            "name_format",
            f"이름은 {MAX_NAME_LENGTH}자 이하로 입력하세요 "
            f"(longer than {MAX_NAME_LENGTH} characters)",
        )
    return name


def _is_invisible(ch: str) -> bool:
    # Category C: control (Cc), format (Cf), surrogate (Cs), private use (Co), unassigned (Cn).
    return unicodedata.category(ch).startswith("C") or ch in _HANGUL_FILLERS
