"""/docs (Swagger UI) and /redoc load only this service's files (pinned npm packages), so they work offline."""

from __future__ import annotations

import re

import pytest

from geo_service.maps.assets import external_hosts


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_reference_only_local_files(ref_client, page):
    r = ref_client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not external_hosts(html), external_hosts(html)
    local = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert any(u.endswith(".js") for u in local), local
    for url in local:
        served = ref_client.get(url)
        assert served.status_code == 200 and len(served.content) > 100, url
    assert "/openapi.json" in html
    assert ref_client.get("/docs/vendor/../package.json").status_code == 404
    assert ref_client.get("/docs/vendor/package.json").status_code == 404


def test_swagger_ui_asks_no_validator(ref_client):
    html = ref_client.get("/docs").text
    assert '"validatorUrl": null' in html and "validator.swagger.io" not in html
    assert ref_client.get("/docs/oauth2-redirect").status_code == 200
