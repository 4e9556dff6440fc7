"""Full-width folding: its shortcut for text with nothing to fold changes no string."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from welfare.identity.fullwidth import _FULLWIDTH_TO_ASCII, fold_fullwidth

# Korean, ASCII, full-width forms and their neighbours on either side of the folded ranges.
text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xAC20),
        st.characters(min_codepoint=0x2FFF, max_codepoint=0x3001),
        st.characters(min_codepoint=0xFF00, max_codepoint=0xFF60),
        st.characters(),
    )
)


@given(raw=text)
def test_folding_is_the_table_applied_to_every_character(raw: str) -> None:
    assert fold_fullwidth(raw) == raw.translate(_FULLWIDTH_TO_ASCII)


def test_every_folded_character_is_found_by_the_shortcut() -> None:
    for codepoint, ascii_form in _FULLWIDTH_TO_ASCII.items():
        assert fold_fullwidth(f"가{chr(codepoint)}나") == f"가{ascii_form}나"
