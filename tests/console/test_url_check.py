"""The console's personal-data-in-URL check: it catches an RRN or a phone number however it is
written, and does not mistake a record id's random hex for one."""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

from tests.support.console import assert_no_personal_data_in_urls


def page(*hrefs: str) -> TestResponse:
    body = "".join(f'<a href="{href}">x</a>' for href in hrefs)
    return TestResponse([body.encode()], "200 OK", [("Content-Type", "text/html")], None)  # type: ignore[arg-type]  # werkzeug types environ as WSGIEnvironment


@pytest.mark.parametrize(
    "href",
    [
        "/residents?phone=010-7777-1234",
        "/residents?q=01077771234",
        "/residents?rrn=5001011234567",
        "/residents/500101-1234567",
    ],
)
def test_a_phone_or_rrn_in_a_url_is_caught(href: str) -> None:
    with pytest.raises(AssertionError):
        assert_no_personal_data_in_urls(page(href))


def test_a_record_id_is_not_mistaken_for_a_phone_number() -> None:
    # The hex of this id holds "017-24970499", shaped like a mobile number once the letters go.
    assert_no_personal_data_in_urls(page("/residents/75678626-6830-4c85-a017-24970499c0c3"))


def test_a_named_secret_is_caught_anywhere() -> None:
    with pytest.raises(AssertionError):
        assert_no_personal_data_in_urls(page("/search?name=윤모든"), "윤모든")
