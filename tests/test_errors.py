"""The one error model: unexpected failures and database outages never leak a stack trace."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from geo_service.errors import GeoServiceError, InvalidInput, LayerRejected, NotFound, status_for
from geo_service.main import create_app
from tests.conftest import make_settings


def test_status_table_uses_the_most_specific_class():
    assert status_for(LayerRejected()) == 422
    assert status_for(InvalidInput()) == 400
    assert status_for(NotFound()) == 404
    assert status_for(GeoServiceError()) == 500
    assert status_for(ValueError()) == 500


def test_unexpected_exception_is_a_safe_500(ref_url, tmp_path):
    app = create_app(make_settings(ref_url, tmp_path))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "internal_error" and err["request_id"]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_database_down_is_503_not_a_crash(tmp_path):
    # Nothing listens on this port: every query fails to connect.
    url = "postgresql+psycopg://postgres:x@127.0.0.1:9/none"
    app = create_app(make_settings(url, tmp_path), engine=create_engine(url, connect_args={"connect_timeout": 2}))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/districts")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in r.text and "psycopg" not in r.text
