"""Real-browser tests: Debian's chromium and chromium-driver driven by selenium against the app
served on a local port over a real, migrated database seeded with the demo district.

Without chromium and chromedriver on the PATH these tests are skipped with a plain reason (and
`make test` prints a notice); with WELFARE_REQUIRE_BROWSER set (CI), their absence fails.
Screenshots go to a temporary folder, or to WELFARE_SCREENSHOT_DIR when set
(`make screenshots` writes docs/screenshots/).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from config import Settings
from schedulers.followups import run_followups
from schedulers.registry import Job
from schedulers.runner import run_job
from services import demo, dispatch, hygiene, ongi, partners, residents
from services import staff as staff_service
from services.audit import start_chains
from tests.support.casework import with_check_digit
from tests.support.databases import fresh_database
from tests.support.live import COUNSELOR, GASAN
from tests.support.plan import raise_gateway_incident
from welfare.app import create_app
from welfare.crypto.keyring import Keyring
from welfare.crypto.passwords import make_hasher
from welfare.database import KEYRING_INFO, Database, make_engine
from welfare.migrate import upgrade
from welfare.web import get_database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = (
    "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    if os.environ.get("WELFARE_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"browser tests are required (WELFARE_REQUIRE_BROWSER): {MISSING}")
    skip = pytest.mark.skip(reason=f"browser tests SKIPPED: {MISSING}")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@dataclass(frozen=True)
class Site:
    url: str
    password: str
    app: Any


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Site]:
    """The app on 127.0.0.1 over its own committed database with the demo district, after one
    tick (so the queues have work in them)."""
    folder = tmp_path_factory.mktemp("browser")
    keyring = Keyring.generate(for_development=False)
    with fresh_database(folder, "browser") as url:
        engine = make_engine(url)
        upgrade(engine)
        with Session(bind=engine, info={KEYRING_INFO: keyring}) as s, s.begin():
            start_chains(s)
        engine.dispose()
        app = create_app(
            replace(
                settings,
                database_url=url,
                data_dir=folder,
                audit_checkpoint_file=folder / "checkpoints.jsonl",
                erasure_ledger=folder / "erasures.jsonl",
            ),
            keyring=keyring,
        )
        database = get_database(app)
        with database.new_session() as session:
            district = demo.seed_demo_district(session, hasher=make_hasher("fast"), residents=60)
        assert district is not None and district.password
        lapsed = _lapsed_in_gasan(database, now=datetime.now(UTC))
        result = run_job(database, Job("followups", run_followups), as_of=datetime.now(UTC))
        assert result.status == "succeeded"
        # After the tick, which would cancel an incident of a gateway it does not see silent.
        _district_plan_in_gasan(database, lapsed[0], now=datetime.now(UTC))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Site(f"http://127.0.0.1:{server.server_port}", district.password, app)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            database.dispose()


LAPSED = ("김순례", "박정자", "이말순", "최복남", "정옥희", "한영자", "윤춘자", "조점례")


def _lapsed_in_gasan(database: Database, now: datetime) -> list[uuid.UUID]:
    """Fictional high-risk residents of Gasan-dong enrolled in Ongi a day or more ago and never
    reached, so the next tick raises their lapses: work for the Gasan counselor's queue."""
    ids = []
    with database.new_session() as session:
        for n, name in enumerate(LAPSED):
            enrolled_at = now - timedelta(hours=26 + 7 * n)
            view = residents.register_resident(
                session,
                actor=COUNSELOR,
                name=name,
                rrn=with_check_digit(f"4{n}0{n + 1}0{n + 1}2{n + 71:05d}"),
                phone=f"010-31{n}0-45{n}7",
                dong=GASAN,
                now=enrolled_at,
            )
            ongi.enroll(
                session,
                actor=COUNSELOR,
                resident_id=view.id,
                risk_level="high" if n % 3 else "medium",
                now=enrolled_at,
                enrolled_at=enrolled_at,
            )
            ids.append(view.id)
    return ids


def _district_plan_in_gasan(database: Database, resident_id: uuid.UUID, now: datetime) -> None:
    """One record of each of the district plan's other services in Gasan-dong, so their console
    pages have something to show: a dispatch request, an elder's hygiene visits, a referral to
    the welfare foundation, and a silent gateway's incident."""
    with database.new_session() as session:
        dispatch.request_dispatch(
            session,
            actor=COUNSELOR,
            dong=GASAN,
            urgency="urgent",
            requester_kind="dong_center",
            summary="이웃이 며칠째 인기척이 없다고 신고",
            resident_id=resident_id,
            now=now,
        )
        hygiene.enroll(
            session,
            actor=COUNSELOR,
            resident_id=resident_id,
            provider="hygiene_care_provider",
            services=["bathing", "health_check"],
            rrule="FREQ=WEEKLY",
            dtstart=now - timedelta(hours=1),
            now=now,
        )
        partners.refer(
            session,
            actor=COUNSELOR,
            resident_id=resident_id,
            partner="welfare_foundation",
            consent={"given_by": "본인", "given_at": now - timedelta(hours=1), "scope": "contact"},
            reason="긴급 생계비 지원 연계",
            now=now,
        )
        gateway = staff_service.create_staff(
            session,
            actor=None,
            username="demo.gateway.silent",
            role="gateway",
            dongs=[GASAN],
            password=None,
            hasher=make_hasher("fast"),
            now=now,
            display_name="가산 AI 안부전화 회선",
        )
        raise_gateway_incident(session, gateway.id, GASAN, 8, now)
        session.commit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("WELFARE_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=ko-KR",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or ""))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
