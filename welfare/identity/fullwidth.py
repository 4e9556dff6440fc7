"""Folding of full-width (전각) characters, which Korean input methods type, to their ASCII forms.

NFKC does the folding, but only for the Halfwidth and Fullwidth Forms block and the ideographic
space: NFKC also turns superscript, circled and mathematical digits ("¹", "①", "𝟙") into ASCII
digits, and no keyboard produces those in an ID or phone number, so they are left alone for the
ASCII-only patterns downstream to refuse as the corruption they are.
"""

from __future__ import annotations

import re
import unicodedata

# U+FF01..U+FF5E mirror ASCII U+0021..U+007E (０-９, －, ＋, （, ）, ．, Ａ-Ｚ, ...).
_FULLWIDTH_TO_ASCII = {
    codepoint: unicodedata.normalize("NFKC", chr(codepoint)) for codepoint in range(0xFF01, 0xFF5F)
} | {0x3000: " "}  # IDEOGRAPHIC SPACE, typed by the space bar in full-width mode


# The characters the table folds: most text has none, and finding that out is a fifth of the cost
# of translating it character by character (bulk imports fold every RRN, phone and address).
_FOLDABLE = re.compile("[\u3000\uff01-\uff5e]")


def fold_fullwidth(raw: str) -> str:
    """Return `raw` with full-width forms replaced by ASCII; every other character unchanged."""
    if raw.isascii() or _FOLDABLE.search(raw) is None:
        return raw
    return raw.translate(_FULLWIDTH_TO_ASCII)
