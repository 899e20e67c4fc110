"""Revocable access (issue 12, point 7): tokens follow the account as it is now, sign-out and deactivation
revoke, administrators manage accounts (audited), withheld fields cannot be probed through dates, one
redaction policy for every route, and empty scopes never mean "everything"."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD


def _me(client, headers):
    return client.get("/api/v1/auth/me", headers=headers)


def _sign_in(client, username):
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    return r.status_code, ({"Authorization": f"Bearer {r.json()['access_token']}"} if r.status_code == 200 else None)


@pytest.mark.slow
def test_deactivation_revokes_at_once_and_reactivation_needs_a_new_sign_in(client, login, admin_headers):
    ranger = login("ranger", "field_officer")
    assert _me(client, ranger).status_code == 200
    r = client.post("/api/v1/admin/users/ranger/deactivate", headers=admin_headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = _me(client, ranger)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
    assert client.get("/api/v1/incidents", headers=ranger).status_code == 401
    assert _sign_in(client, "ranger")[0] == 401
    assert client.post("/api/v1/admin/users/ranger/reactivate", headers=admin_headers).json()["is_active"] is True
    assert _me(client, ranger).status_code == 401  # the old token stays dead
    status, fresh = _sign_in(client, "ranger")
    assert status == 200 and _me(client, fresh).json()["roles"] == ["field_officer"]


def test_roles_come_from_the_database_not_the_token(client, login, admin_headers, db_url, sessionmaker_for):
    lead = login("lead", "investigator")
    assert client.get("/api/v1/cases", headers=lead).status_code == 200
    # a change made behind the API's back (no token version bump) still applies to the next request
    with sessionmaker_for(db_url)() as s, s.begin():
        s.execute(text("UPDATE users SET roles = ARRAY['field_officer'] WHERE username = 'lead'"))
    assert _me(client, lead).json()["roles"] == ["field_officer"]
    assert client.get("/api/v1/cases", headers=lead).status_code == 403
    # a demotion through the API ends the sign-in
    r = client.patch("/api/v1/admin/users/lead", headers=admin_headers, json={"roles": ["committee_member"]})
    assert r.status_code == 200 and r.json()["roles"] == ["committee_member"]
    assert _me(client, lead).status_code == 401
    _status, fresh = _sign_in(client, "lead")
    assert _me(client, fresh).json()["roles"] == ["committee_member"]


def test_sign_out_revokes_the_token_and_the_browser_session(client, login):
    ranger = login("ranger", "field_officer")
    r = client.post("/api/v1/auth/logout", headers=ranger, follow_redirects=False)
    assert r.status_code == 303
    assert _me(client, ranger).status_code == 401
    # browser: the session cookie stops working even if a copy of it was kept
    r = client.post(
        "/api/v1/auth/session", data={"username": "ranger", "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    cookie = r.cookies.get("geo_session")
    client.cookies.clear()
    client.cookies.set("geo_session", cookie)
    assert cookie and client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", follow_redirects=False).status_code == 303
    client.cookies.set("geo_session", cookie)  # a copy kept after signing out
    assert client.get("/api/v1/auth/me").status_code == 401
    client.cookies.clear()
    # signing out without (or with a broken) token is harmless
    assert client.post("/api/v1/auth/logout", follow_redirects=False).status_code == 303
    assert (
        client.post(
            "/api/v1/auth/logout", headers={"Authorization": "Bearer x.y.z"}, follow_redirects=False
        ).status_code
        == 303
    )


def test_user_management_is_for_administrators_and_audited(client, login, admin_headers, db_url, sessionmaker_for):
    lead = login("lead", "investigator")
    body = {"username": "newbie", "password": PASSWORD, "roles": ["field_officer"], "display_name": "New"}
    assert client.post("/api/v1/admin/users", json=body, headers=lead).status_code == 403
    assert client.get("/api/v1/admin/users", headers=lead).status_code == 403
    assert client.post("/api/v1/admin/users/newbie/deactivate", headers=lead).status_code == 403
    assert client.post("/api/v1/admin/users", json=body, headers=admin_headers).status_code == 201
    listed = {u["username"]: u for u in client.get("/api/v1/admin/users", headers=admin_headers).json()}
    assert listed["newbie"]["roles"] == ["field_officer"] and listed["newbie"]["is_active"]
    assert "password_hash" not in listed["newbie"] and "token_version" not in listed["newbie"]
    r = client.patch(
        "/api/v1/admin/users/newbie",
        headers=admin_headers,
        json={"roles": ["field_officer", "committee_member"], "display_name": "ผู้ใช้ใหม่"},
    )
    assert r.status_code == 200 and r.json()["display_name"] == "ผู้ใช้ใหม่"
    assert (
        client.patch("/api/v1/admin/users/newbie", headers=admin_headers, json={"roles": ["king"]}).status_code == 422
    )
    assert (
        client.patch("/api/v1/admin/users/nobody", headers=admin_headers, json={"is_active": False}).status_code == 404
    )
    client.post("/api/v1/admin/users/newbie/deactivate", headers=admin_headers)
    client.post("/api/v1/admin/users/newbie/reactivate", headers=admin_headers)
    with sessionmaker_for(db_url)() as s:
        actions = s.execute(
            text("SELECT actor, action FROM audit_log WHERE entity_type = 'user' AND entity_id = 'newbie' ORDER BY id")
        ).all()
    assert [a.action for a in actions] == ["create", "update", "deactivate", "reactivate"]
    assert {a.actor for a in actions} == {"admin"}
    # no administrator locks themselves out
    boss = login("boss", "administrator")
    r = client.post("/api/v1/admin/users/boss/deactivate", headers=boss)
    assert r.status_code == 409 and r.json()["error"]["code"] == "own_account"
    assert client.patch("/api/v1/admin/users/boss", headers=boss, json={"roles": ["investigator"]}).status_code == 409
    assert client.patch("/api/v1/admin/users/boss", headers=boss, json={"display_name": "Boss"}).status_code == 200
    assert client.get("/api/v1/admin/audit/verify", headers=admin_headers).json()["ok"]


@pytest.fixture
def seeded(client, login, admin_headers):
    officer = login("officer", "field_officer")
    r = client.post(
        "/api/v1/incidents",
        headers=officer,
        json={
            "kind": "wildfire",
            "location": {"lat": 18.2, "lon": 100.3},
            "observed_at": "2024-03-10T10:00:00",
            "description": "smoke over the ridge",
            "reporter": "Somchai Informant",
            "tags": ["t"],
        },
    )
    assert r.status_code == 201, r.text
    return {
        "officer": officer,
        "id": r.json()["id"],
        "committee": login("committee", "committee_member"),
        "other_officer": login("officer2", "field_officer"),
        "lead": login("lead", "investigator"),
    }


@pytest.mark.slow
def test_one_redaction_policy_for_incidents_exports_and_maps(client, seeded):
    iid, committee = seeded["id"], seeded["committee"]
    for path in ("/api/v1/incidents", f"/api/v1/incidents/{iid}", "/api/v1/incidents.geojson"):
        body = client.get(path, headers=committee).json()
        record = (
            body["items"][0] if "items" in body else body["features"][0]["properties"] if "features" in body else body
        )
        assert record["reporter"] is None and record["created_by"] is None and record["updated_by"] is None, path
        assert record["description"] == "smoke over the ridge", path
        assert "Somchai" not in client.get(path, headers=committee).text
    # the names cannot be probed through the text search either
    assert client.get("/api/v1/incidents", headers=committee, params={"q": "Somchai"}).json()["total"] == 0
    assert client.get("/api/v1/incidents", headers=seeded["lead"], params={"q": "Somchai"}).json()["total"] == 1
    # the same answer in exports and on the committee's map
    props = client.get("/api/v1/exports/incidents", headers=committee).json()["features"][0]["properties"]
    assert "reporter" not in props and "created_by" not in props and props["description"]
    html = client.get("/maps/overview", headers=committee, params={"from": "2024-03-01", "to": "2024-03-31"}).text
    assert "Somchai" not in html and "smoke over the ridge" in html
    # investigators read names; the author reads them on their own record only
    assert client.get(f"/api/v1/incidents/{iid}", headers=seeded["lead"]).json()["reporter"] == "Somchai Informant"
    assert client.get(f"/api/v1/incidents/{iid}", headers=seeded["officer"]).json()["reporter"] == "Somchai Informant"
    assert client.get(f"/api/v1/incidents/{iid}", headers=seeded["other_officer"]).json()["reporter"] is None
    inv_html = client.get("/maps/overview", headers=seeded["lead"], params={"from": "2024-03-01", "to": "2024-03-31"})
    assert "Somchai" in inv_html.text


@pytest.mark.slow
def test_withheld_time_cannot_be_recovered_through_date_filters(client, seeded, admin_headers):
    def key(*scopes):
        r = client.post(
            "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "K" + str(scopes), "scopes": list(scopes)}
        )
        assert r.status_code == 201, r.text
        return {"X-API-Key": r.json()["key"]}

    narrow = key("incidents:kind,district_code")
    ok = client.get("/api/v1/exports/incidents", headers=narrow)
    assert ok.status_code == 200 and "observed_at" not in ok.json()["features"][0]["properties"]
    for path, params in (
        ("/api/v1/exports/incidents", {"from": "2024-03-10", "to": "2024-03-10"}),
        ("/api/v1/exports/incidents", {"from": "2024-03-11"}),
        ("/ogc/collections/incidents/items", {"datetime": "2024-03-10/2024-03-11"}),
        ("/ogc/collections/incidents/items", {"datetime": "2024-03-10T03:00:00Z"}),
        ("/ogc/collections/incidents/items", {"filter": "observed_at > TIMESTAMP('2024-03-01T00:00:00Z')"}),
    ):
        r = client.get(path, headers=narrow, params=params)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_filter", (path, params, r.text)
    with_time = key("incidents:kind,observed_at")
    r = client.get("/api/v1/exports/incidents", headers=with_time, params={"from": "2024-03-10", "to": "2024-03-10"})
    assert r.status_code == 200 and len(r.json()["features"]) == 1


def test_empty_field_list_and_partner_accounts_never_mean_everything(
    client, seeded, admin_headers, login, db_url, sessionmaker_for
):
    r = client.post("/api/v1/admin/api-keys", headers=admin_headers, json={"name": "Empty", "scopes": ["incidents:"]})
    assert r.status_code == 400 and "names no field" in r.json()["error"]["message"]
    # a key stored with an empty list before this check reads geometry and id, nothing else
    r = client.post("/api/v1/admin/api-keys", headers=admin_headers, json={"name": "Old", "scopes": ["incidents"]})
    with sessionmaker_for(db_url)() as s, s.begin():
        s.execute(text("UPDATE api_keys SET scopes = ARRAY['incidents:'] WHERE name = 'Old'"))
    feature = client.get("/api/v1/exports/incidents", headers={"X-API-Key": r.json()["key"]}).json()["features"][0]
    assert set(feature["properties"]) == {"id"}
    # a user account with the partner role has no key scopes: public collections only
    partner = login("agency_user", "partner")
    assert client.get("/api/v1/exports/incidents", headers=partner).status_code == 403
    assert client.get("/ogc/collections/incidents/items", headers=partner).status_code == 403
    names = [c["id"] for c in client.get("/ogc/collections", headers=partner).json()["collections"]]
    assert "incidents" not in names and "districts" in names
