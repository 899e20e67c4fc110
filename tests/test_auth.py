"""Sign-in and tokens: argon2 hashes, pinned algorithm, expiry, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_TOKEN, PASSWORD


def test_sign_in_and_me(client, login):
    headers = login("ranger", "field_officer")
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me == {"username": "ranger", "display_name": "Ranger", "roles": ["field_officer"], "provinces": ["54"]}


def test_wrong_password_and_unknown_user_look_the_same(client, login):
    login("ranger", "field_officer")
    a = client.post("/api/v1/auth/token", data={"username": "ranger", "password": "wrong password!"})
    b = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong password!"})
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["message"] == b.json()["error"]["message"] == "Wrong username or password."


def test_passwords_are_stored_as_argon2(client, login, sessionmaker_for, db_url):
    login("ranger", "field_officer")
    with sessionmaker_for(db_url)() as s:
        stored = s.execute(text("SELECT password_hash FROM users WHERE username = 'ranger'")).scalar()
    assert stored.startswith("$argon2") and PASSWORD not in stored


def test_forged_expired_and_unsigned_tokens_are_refused(client, login, tmp_path):
    login("ranger", "field_officer")
    secret = client.app.state.jwt_secret
    now = datetime.now(UTC)
    expired = jwt.encode(
        {"sub": "ranger", "roles": ["administrator"], "exp": now - timedelta(minutes=1)}, secret, algorithm="HS256"
    )
    forged = jwt.encode(
        {"sub": "ranger", "roles": ["administrator"], "exp": now + timedelta(hours=1)},
        "another-secret-another-secret-another-secret",
        algorithm="HS256",
    )
    unsigned = jwt.encode(
        {"sub": "ranger", "roles": ["administrator"], "exp": now + timedelta(hours=1)}, None, algorithm="none"
    )
    no_expiry = jwt.encode({"sub": "ranger", "roles": ["administrator"]}, secret, algorithm="HS256")
    for token, code in (
        (expired, "token_expired"),
        (forged, "unauthorized"),
        (unsigned, "unauthorized"),
        (no_expiry, "unauthorized"),
    ):
        r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == code


def test_only_administrators_create_users(client, login, admin_headers):
    officer = login("ranger", "field_officer")
    body = {"username": "x1", "password": PASSWORD, "roles": ["administrator"]}
    assert client.post("/api/v1/admin/users", json=body, headers=officer).status_code == 403
    assert client.post("/api/v1/admin/users", json=body).status_code == 401
    assert client.post("/api/v1/admin/users", json=body, headers=admin_headers).status_code == 201
    again = client.post("/api/v1/admin/users", json=body, headers=admin_headers)
    assert again.status_code == 409
    weak = client.post(
        "/api/v1/admin/users", json={**body, "username": "x2", "password": "short"}, headers=admin_headers
    )
    assert weak.status_code == 422
    bad_role = client.post(
        "/api/v1/admin/users", json={**body, "username": "x3", "roles": ["king"]}, headers=admin_headers
    )
    assert bad_role.status_code == 422


def test_admin_token_is_compared_whole(client):
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_deployments_hash_passwords_at_full_argon2id_cost_and_refuse_a_test_cost(monkeypatch):
    """The suite signs in with a cheap argon2id (tests/conftest.py); a deployment cannot, and hashes at 64 MiB."""
    import pydantic

    from geo_service import users
    from geo_service.settings import ServiceSettings
    from tests.conftest import TEST_HASH_COST

    monkeypatch.delenv("GEO_SERVICE_ENVIRONMENT", raising=False)
    defaults = ServiceSettings()
    assert (defaults.password_hash_memory_kib, defaults.password_hash_time_cost) == (65536, 3)
    for environment in ("local", "production"):
        with pytest.raises(pydantic.ValidationError, match="password_hash_memory_kib"):
            ServiceSettings(environment=environment, **TEST_HASH_COST)
    try:
        users.configure_hashing(defaults.password_hash_memory_kib, defaults.password_hash_time_cost)
        stored = users.hash_password("correct horse battery staple")
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        users.configure_hashing(TEST_HASH_COST["password_hash_memory_kib"], TEST_HASH_COST["password_hash_time_cost"])
        cheap = users.hash_password("correct horse battery staple")
        assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=4$")
        # a hash keeps verifying with the parameters written in it, whatever the current cost
        assert users.password_matches("correct horse battery staple", stored)
    finally:
        users.configure_hashing(TEST_HASH_COST["password_hash_memory_kib"], TEST_HASH_COST["password_hash_time_cost"])
