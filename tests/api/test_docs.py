"""``/docs`` and ``/redoc`` work with the network unplugged: every script and stylesheet
they load is served by the API itself, and the bundled Swagger UI renders OpenAPI 3.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.db.migrate import upgrade_to_head
from tests.api.harness import embedded_settings


@pytest.fixture
def client(relearn_home: Path) -> Iterator[TestClient]:
    """The docs do not depend on the backends: the embedded ones only."""
    settings = embedded_settings(relearn_home)
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        yield client


class Assets(HTMLParser):
    """The URLs a page loads: ``<script src>`` and ``<link href>``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def assets_of(html: str) -> list[str]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_everything_from_the_api_itself(client: TestClient, page: str) -> None:
    # when
    response = client.get(page)
    urls = assets_of(response.text)

    # then: no URL names another host, and each one is served
    assert response.status_code == 200
    assert any(url.endswith(".js") for url in urls), urls
    assert "http://" not in response.text and "https://" not in response.text
    for url in urls:
        assert not urlsplit(url).scheme and not urlsplit(url).netloc, url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


def test_the_bundled_swagger_ui_renders_openapi_3_1(client: TestClient) -> None:
    # given: Swagger UI renders OpenAPI 3.1 from version 5 on (4.x shows "Unable to render")
    openapi = client.get("/openapi.json").json()
    (script,) = [
        u for u in assets_of(client.get("/docs").text) if u.endswith("swagger-ui-bundle.js")
    ]

    # when
    bundle = client.get(script).text
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle)

    # then
    assert openapi["openapi"].startswith("3.1.")
    assert version is not None and int(version.group(1)) >= 5, version
