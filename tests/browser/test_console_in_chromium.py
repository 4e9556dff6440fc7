"""The console in a real browser (chromium via selenium): log in, work a follow-up end to end,
register and find a resident, log a contact on a 360 px phone screen, and visit every page
checking for console errors, CSP violations and sideways scrolling. Takes the screenshots shown
in the README."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import Site
from tests.support.casework import unique_rrn

FROM_A_PAGE = ("/dispatches/new", "/hygiene/new", "/referrals/new")
PHONE = {"width": 360, "height": 780, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 15) -> Any:
    # A page being replaced (a navigation, or htmx swapping the body) leaves stale elements.
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def wait_for_text(driver: Any, text: str) -> None:
    wait(driver, lambda d: text in (d.execute_script("return document.body.innerText") or ""))


def screen(driver: Any, metrics: dict[str, Any]) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def problems(driver: Any) -> list[str]:
    """Console errors since the last call: failed loads, script errors and CSP violations
    (chromium reports a refused script, style or connection as a SEVERE console message)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_sideways_scroll(driver: Any) -> bool:
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
    )


def log_in(driver: Any, site: Site, username: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{site.url}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(site.password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, lambda d: "/login" not in d.current_url)
    assert problems(driver) == []


def shot(driver: Any, folder: Path, name: str) -> None:
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(folder / f"{name}.png"))


@pytest.fixture(autouse=True)
def desktop(browser: Any) -> None:
    screen(browser, DESKTOP)
    browser.get_log("browser")  # start each test with an empty console


def test_login_page_and_a_failed_login_in_korean(
    browser: Any, site: Site, screenshots: Path
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site.url}/login")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    shot(browser, screenshots, "login")
    browser.find_element(By.ID, "username").send_keys("demo.counselor.gasan")
    browser.find_element(By.ID, "password").send_keys("wrong password")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for_text(browser, "계정이 30분 동안 잠깁니다")
    # The 401 of the failed login is the only console message: no script or CSP error.
    found = problems(browser)
    assert all("401" in m for m in found), found


def test_work_a_followup_end_to_end(browser: Any, site: Site, screenshots: Path) -> None:
    log_in(browser, site, "demo.counselor.gasan")
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".queue .item")))
    shot(browser, screenshots, "home-queue")
    item = browser.find_element(By.CSS_SELECTOR, ".queue .item")
    link = item.find_element(By.LINK_TEXT, "자세히").get_attribute("href")
    item.find_element(By.XPATH, ".//button[normalize-space()='맡기']").click()
    wait_for_text(browser, "맡았습니다.")

    item = browser.find_element(
        By.XPATH, f"//li[contains(@class,'item')][.//a[@href='{_path(link)}']]"
    )
    item.find_element(By.XPATH, ".//summary[normalize-space()='해결']").click()
    Select(item.find_element(By.CSS_SELECTOR, "select[name=outcome]")).select_by_value(
        "confirmed_safe"
    )
    item.find_element(By.CSS_SELECTOR, "textarea[name=note]").send_keys("전화로 안부 확인")
    item.find_element(By.XPATH, ".//button[normalize-space()='해결로 닫기']").click()
    wait_for_text(browser, "해결로 닫았습니다.")
    assert f'href="{_path(link)}"' not in browser.page_source
    browser.get(link)
    wait_for_text(browser, "해결")
    assert "전화로 안부 확인" in browser.page_source
    shot(browser, screenshots, "followup")
    assert problems(browser) == []


def test_register_and_find_a_resident(browser: Any, site: Site, screenshots: Path) -> None:
    log_in(browser, site, "demo.counselor.gasan")
    browser.find_element(By.LINK_TEXT, "주민").click()
    wait(browser, ec.presence_of_element_located((By.ID, "term")))
    browser.find_element(By.LINK_TEXT, "새 주민 등록").click()
    wait(browser, ec.presence_of_element_located((By.ID, "rrn")))
    browser.find_element(By.ID, "name").send_keys("나브라우저")
    browser.find_element(By.ID, "rrn").send_keys(unique_rrn())
    browser.find_element(By.ID, "phone").send_keys("010-9090-1212")
    browser.find_element(By.XPATH, "//button[normalize-space()='등록']").click()
    wait_for_text(browser, "주민을 등록했습니다.")
    assert "나브라우저" in browser.find_element(By.TAG_NAME, "h1").text

    browser.find_element(By.LINK_TEXT, "주민").click()
    wait(browser, ec.presence_of_element_located((By.ID, "term")))
    browser.find_element(By.ID, "term").send_keys("나브라우저")
    browser.find_element(By.XPATH, "//button[normalize-space()='찾기']").click()
    wait_for_text(browser, "찾은 주민 1명")
    assert "나브라우저" not in browser.current_url and "search" in browser.current_url
    shot(browser, screenshots, "residents-search")
    browser.find_element(By.PARTIAL_LINK_TEXT, "나브라우저").click()
    wait(browser, ec.presence_of_element_located((By.ID, "history")))
    shot(browser, screenshots, "resident")
    assert problems(browser) == []


def test_log_a_contact_on_a_phone(browser: Any, site: Site, screenshots: Path) -> None:
    log_in(browser, site, "demo.outreach.gasan")
    screen(browser, PHONE)
    browser.get(f"{site.url}/")
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".queue .item")))
    assert no_sideways_scroll(browser)
    shot(browser, screenshots, "home-queue-360")
    resident = browser.find_element(By.CSS_SELECTOR, ".queue .item .who a")
    resident.click()
    wait(browser, ec.presence_of_element_located((By.LINK_TEXT, "연락 기록")))
    browser.find_element(By.LINK_TEXT, "연락 기록").click()
    wait(browser, ec.presence_of_element_located((By.ID, "occurred_at")))
    assert browser.find_element(By.ID, "occurred_at").get_attribute("value")
    assert no_sideways_scroll(browser)
    browser.find_element(By.XPATH, "//label[contains(., '방문')]").click()
    browser.find_element(By.XPATH, "//label[contains(., '통화·만남')]").click()
    browser.find_element(By.ID, "note").send_keys("현관에서 인사, 건강하심")
    shot(browser, screenshots, "contact-360")
    browser.find_element(By.XPATH, "//button[normalize-space()='기록']").click()
    wait_for_text(browser, "연락을 기록했습니다.")
    wait_for_text(browser, "현관에서 인사, 건강하심")
    assert browser.page_source.count("현관에서 인사, 건강하심") == 1
    assert no_sideways_scroll(browser)
    assert problems(browser) == []


def test_the_menu_folds_on_a_phone_and_opens_without_a_script(
    browser: Any, site: Site, screenshots: Path
) -> None:
    """At 360 px the main menu is one 메뉴 button (a <details>, no script): reached with Tab,
    its focus visible, opened with Enter, a link followed; on a desktop the row of links as
    before, and no 메뉴 button."""
    log_in(browser, site, "demo.counselor.gasan")
    browser.get(f"{site.url}/")
    wide = browser.find_element(By.CSS_SELECTOR, "nav .menu-wide")
    assert wide.is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "nav .menu-phone").is_displayed()

    screen(browser, PHONE)
    browser.get(f"{site.url}/")
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".queue")))
    assert not browser.find_element(By.CSS_SELECTOR, "nav .menu-wide").is_displayed()
    summary = browser.find_element(By.CSS_SELECTOR, "nav .menu-phone summary")
    assert summary.is_displayed() and "내 업무" in summary.text  # where I am
    link = browser.find_element(By.XPATH, "//details[contains(@class,'menu-phone')]//a[.='출동']")
    assert not link.is_displayed()  # folded
    # By keyboard: Tab from the top of the page (skip link, brand, then the menu).
    tabs = []
    for _ in range(3):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        tabs.append(browser.switch_to.active_element.text)
    focused = browser.switch_to.active_element
    assert focused == summary, tabs
    assert focused.value_of_css_property("outline-style") == "solid"  # focus is visible
    focused.send_keys(Keys.ENTER)
    wait(browser, lambda d: link.is_displayed())
    assert no_sideways_scroll(browser)
    shot(browser, screenshots, "menu-360")
    link.click()
    wait(browser, lambda d: d.current_url.endswith("/dispatches"))
    wait_for_text(browser, "복지상담관 출동")
    summary = browser.find_element(By.CSS_SELECTOR, "nav .menu-phone summary")
    assert "출동" in summary.text  # the new page's menu, folded again
    assert no_sideways_scroll(browser)
    assert problems(browser) == []


def test_record_a_kimchi_delivery_on_a_phone(browser: Any, site: Site) -> None:
    """The deliverer's round on a 360 px phone: the campaign, the route, a failed stop's form
    with the six outcomes as large buttons, delivered on the second try, recorded once."""
    log_in(browser, site, "demo.outreach.gasan")
    screen(browser, PHONE)
    browser.get(f"{site.url}/kimchi")
    browser.find_element(By.CSS_SELECTOR, ".queue .item a.reason").click()
    wait(browser, ec.presence_of_element_located((By.ID, "routes-title")))
    browser.find_element(By.CSS_SELECTOR, ".queue .item a.reason").click()
    wait(browser, ec.presence_of_element_located((By.LINK_TEXT, "인쇄용 경로표")))
    assert no_sideways_scroll(browser)
    # The stop where nobody was home (services/demo/kimchi.py): tried again today.
    failed = browser.find_element(By.CSS_SELECTOR, ".queue .item.overdue")
    failed.find_element(By.LINK_TEXT, "다시 시도").click()
    wait(browser, ec.presence_of_element_located((By.ID, "occurred_at")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "input[name=outcome]")) == 6
    assert no_sideways_scroll(browser)
    browser.find_element(By.XPATH, "//label[contains(., '직접 전달')]").click()
    browser.find_element(By.XPATH, "//label[normalize-space()='본인']").click()
    browser.find_element(By.ID, "observation").send_keys("건강해 보이심")
    browser.find_element(By.XPATH, "//button[normalize-space()='기록']").click()
    wait_for_text(browser, "저장했습니다.")
    wait_for_text(browser, "건강해 보이심")
    assert browser.page_source.count("건강해 보이심") == 1
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=outcome]")  # delivered
    assert no_sideways_scroll(browser)
    assert problems(browser) == []


def _path(url: str | None) -> str:
    assert url
    return re.sub(r"^https?://[^/]+", "", url)


def test_every_page_has_no_console_error_or_csp_violation(
    browser: Any, site: Site, screenshots: Path
) -> None:
    log_in(browser, site, "demo.supervisor")
    found = _ids(browser, site)
    pages = _pages(site, found, roles=("supervisor",))
    assert len(pages) >= 25
    # The forms opened from a resident's page, with the resident named by an opaque id.
    pages += [f"{p}?resident_id={found['resident_id']}" for p in FROM_A_PAGE]
    for path in ("/kimchi/routes/{route_id}/sheet", "/dispatches/{dispatch_id}", "/incidents"):
        assert path.format(**found) in pages, path
    for metrics in (DESKTOP, PHONE):
        screen(browser, metrics)
        for path in pages:
            browser.get(f"{site.url}{path}")
            wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
            assert browser.find_element(By.TAG_NAME, "h1").text, path
            assert problems(browser) == [], path
            if metrics is PHONE:
                assert no_sideways_scroll(browser), path
    screen(browser, DESKTOP)
    browser.get(f"{site.url}/care")
    shot(browser, screenshots, "care-board")
    browser.get(f"{site.url}/cases/{found['case_id']}")
    shot(browser, screenshots, "case")
    browser.get(f"{site.url}/dashboard")
    shot(browser, screenshots, "dashboard")
    browser.get(f"{site.url}/kimchi/routes/{found['route_id']}/sheet")
    wait_for_text(browser, "김장 배송 경로표")
    shot(browser, screenshots, "kimchi-sheet")
    browser.get(f"{site.url}/dispatches/{found['dispatch_id']}")
    wait_for_text(browser, "경과")
    shot(browser, screenshots, "dispatch")
    screen(browser, PHONE)
    browser.get(f"{site.url}/referrals/new?resident_id={found['resident_id']}")
    wait_for_text(browser, "보내는 항목")
    assert problems(browser) == [] and no_sideways_scroll(browser)
    shot(browser, screenshots, "referral-new-360")
    screen(browser, DESKTOP)

    # The dispatch board, after running dispatch from it (the demo's day is dispatched already).
    browser.get(f"{site.url}/mobility?date={_tomorrow()}")
    browser.find_element(By.XPATH, "//button[normalize-space()='이 날 자동 배차 실행']").click()
    wait_for_text(browser, "자동 배차 결과")
    assert problems(browser) == []
    shot(browser, screenshots, "mobility-board")


def test_every_admin_page_has_no_console_error_or_csp_violation(browser: Any, site: Site) -> None:
    log_in(browser, site, "demo.admin")
    browser.get(f"{site.url}/admin/staff")
    match = re.search(r'href="/admin/staff/([0-9a-f-]{36})"', browser.page_source)
    assert match
    browser.get(f"{site.url}/incidents")
    found = re.search(r'href="/incidents/([0-9a-f-]{36})"', browser.page_source)
    assert found
    incident = found.group(1)
    admin_pages = _pages(site, {"staff_id": match.group(1), "incident_id": incident}, ("admin",))
    assert len(admin_pages) >= 5 and f"/incidents/{incident}" in admin_pages
    # The silent gateway's account page: both carry the form for its expected signal interval.
    gateway_page = f"/admin/staff/{_staff_id(site, 'demo.gateway.silent')}"
    admin_pages.append(gateway_page)
    for metrics in (DESKTOP, PHONE):
        screen(browser, metrics)
        for path in admin_pages:
            browser.get(f"{site.url}{path}")
            wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
            assert browser.find_element(By.TAG_NAME, "h1").text, path
            assert problems(browser) == [], path
            if metrics is PHONE:
                assert no_sideways_scroll(browser), path
            if path in (gateway_page, f"/incidents/{incident}"):
                assert browser.find_element(By.ID, "expected_interval_minutes").is_displayed()


def _staff_id(site: Site, username: str) -> str:
    from services import staff as staff_service
    from welfare.web import get_database

    with get_database(site.app).new_session() as session:
        return str(staff_service.get_staff_by_username(session, username).id)


def _ids(browser: Any, site: Site) -> dict[str, str]:
    """One record of each kind, found by following the pages' own links (a page named with
    `{...}` follows a record found before it)."""
    found: dict[str, str] = {}
    for page, pattern, name in (
        ("/", r'href="/followups/([0-9a-f-]{36})"', "followup_id"),
        ("/", r'href="/residents/([0-9a-f-]{36})"', "resident_id"),
        ("/cases", r'href="/cases/([0-9a-f-]{36})"', "case_id"),
        ("/care", r'href="/care/([0-9a-f-]{36})"', "request_id"),
        ("/kimchi", r'href="/kimchi/campaigns/([0-9a-f-]{36})"', "campaign_id"),
        ("/kimchi/campaigns/{campaign_id}", r'href="/kimchi/routes/([0-9a-f-]{36})"', "route_id"),
        (
            "/kimchi/routes/{route_id}",
            r'href="/kimchi/allocations/([0-9a-f-]{36})"',
            "allocation_id",
        ),
        (f"/mobility?date={_tomorrow()}", r'href="/mobility/rides/([0-9a-f-]{36})"', "ride_id"),
        ("/dispatches", r'href="/dispatches/([0-9a-f-]{36})"', "dispatch_id"),
        ("/hygiene", r'href="/hygiene/enrollments/([0-9a-f-]{36})"', "enrollment_id"),
        ("/hygiene/visits", r'href="/hygiene/visits/([0-9a-f-]{36})"', "visit_id"),
        ("/referrals", r'href="/referrals/([0-9a-f-]{36})"', "referral_id"),
        ("/incidents", r'href="/incidents/([0-9a-f-]{36})"', "incident_id"),
    ):
        browser.get(f"{site.url}{page.format(**found)}")
        match = re.search(pattern, browser.page_source)
        assert match, (page, name)
        found[name] = match.group(1)
    return found


def _tomorrow() -> str:
    """The demo's dispatched day (services/demo/mobility.py), in Seoul."""
    return (datetime.now(ZoneInfo("Asia/Seoul")).date() + timedelta(days=1)).isoformat()


def _pages(site: Site, ids: dict[str, str], roles: tuple[str, ...]) -> list[str]:
    from welfare.api.policy import policy_for
    from welfare.models import Role

    paths = []
    for rule in site.app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or "GET" not in (rule.methods or ()):
            continue
        policy = policy_for(site.app, rule.endpoint, "GET")
        if policy is None or policy.public or rule.endpoint == "console.static":
            continue
        if not any(policy.allows(Role(r)) for r in roles):
            continue
        names = re.findall(r"<uuid:(\w+)>", rule.rule)
        if any(name not in ids for name in names):
            continue  # no such record in the demo district (e.g. no rides booked)
        paths.append(re.sub(r"<uuid:(\w+)>", lambda m: ids[m.group(1)], rule.rule))
    return sorted(paths)
