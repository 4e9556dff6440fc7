"""Health, readiness, OpenAPI and the docs page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config import Settings
from tests.support.databases import fresh_database
from welfare.app import create_app
from welfare.crypto.keyring import Keyring


def test_healthz_answers_200(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_at_the_migration_head_with_keys_loaded(client: Any) -> None:
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert body["checks"]["keys"]["ok"] is True


def test_readyz_is_503_on_an_unmigrated_database(
    settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    with fresh_database(tmp_path, "unmigrated") as url:
        app = create_app(Settings(**{**_fields(settings), "database_url": url}), keyring=keyring)
        try:
            response = app.test_client().get("/readyz")
        finally:
            app.extensions["welfare.database"].dispose()
    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "not_ready"
    assert body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["current"] is None


def test_openapi_document_describes_the_api(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/dongs" in spec["paths"]


def test_docs_page_renders_with_locally_served_assets(client: Any) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/docs/static/swagger-ui-bundle.js" in html
    assert "/api/v1/openapi.json" in html
    with client.get("/api/v1/docs/static/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
        assert len(asset.get_data()) > 100_000


def test_the_ten_dongs_are_listed(login_as: Any) -> None:
    items = login_as("counselor").get("/api/v1/dongs").get_json()["items"]
    assert len(items) == 10
    assert {"code": "1154551000", "name": "가산동", "name_en": "Gasan-dong"} in items


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
