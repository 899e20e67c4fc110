"""Every role against every route: each route declares who may call it, and the service agrees.

A route added without an entry in POLICY fails this test, so no route can ship without a decision.
"""

from __future__ import annotations

import re

import pytest

PUBLIC = "public"
SIGNED_IN = "signed_in"
ADMIN = {"administrator"}
REPORTERS = {"administrator", "investigator", "field_officer"}
INCIDENT_READERS = REPORTERS | {"committee_member"}
CASE_READERS = {"administrator", "investigator", "committee_member"}
CASE_WORKERS = {"administrator", "investigator"}

POLICY: dict[tuple[str, str], object] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/api/v1/provinces"): PUBLIC,
    ("GET", "/api/v1/districts"): PUBLIC,
    ("GET", "/api/v1/districts/{code}"): PUBLIC,
    ("GET", "/api/v1/subdistricts"): PUBLIC,
    ("GET", "/api/v1/subdistricts/{code}"): PUBLIC,
    ("GET", "/api/v1/protected-areas"): PUBLIC,
    ("GET", "/api/v1/protected-areas/{code}"): PUBLIC,
    ("GET", "/api/v1/layers"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/auth/session"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): PUBLIC,
    ("GET", "/api/v1/auth/me"): SIGNED_IN,
    ("POST", "/api/v1/admin/layers"): ADMIN,
    ("POST", "/api/v1/admin/users"): ADMIN,
    ("GET", "/api/v1/admin/users"): ADMIN,
    ("PATCH", "/api/v1/admin/users/{username}"): ADMIN,
    ("POST", "/api/v1/admin/users/{username}/deactivate"): ADMIN,
    ("POST", "/api/v1/admin/users/{username}/reactivate"): ADMIN,
    ("POST", "/api/v1/admin/api-keys"): ADMIN,
    ("GET", "/api/v1/admin/api-keys"): ADMIN,
    ("DELETE", "/api/v1/admin/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/admin/audit/verify"): ADMIN,
    ("POST", "/api/v1/incidents/locate"): REPORTERS,
    ("POST", "/api/v1/incidents"): REPORTERS,
    ("POST", "/api/v1/incidents/import"): REPORTERS,
    ("PATCH", "/api/v1/incidents/{incident_id}"): REPORTERS,
    ("POST", "/api/v1/incidents/{incident_id}/photos"): REPORTERS,
    ("GET", "/api/v1/incidents"): INCIDENT_READERS,
    ("GET", "/api/v1/incidents.geojson"): INCIDENT_READERS,
    ("GET", "/api/v1/incidents/{incident_id}"): INCIDENT_READERS,
    ("GET", "/api/v1/photos/{photo_id}"): INCIDENT_READERS,
    ("GET", "/api/v1/photos/{photo_id}/thumbnail"): INCIDENT_READERS,
    ("GET", "/api/v1/cases"): CASE_READERS,
    ("GET", "/api/v1/cases/{case_id}"): CASE_READERS,
    ("POST", "/api/v1/cases"): CASE_WORKERS,
    ("PATCH", "/api/v1/cases/{case_id}"): CASE_WORKERS,
    ("DELETE", "/api/v1/cases/{case_id}"): ADMIN,
    ("POST", "/api/v1/cases/{case_id}/transitions"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/assignments"): CASE_WORKERS,
    ("DELETE", "/api/v1/cases/{case_id}/assignments/{username}"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/parties"): CASE_WORKERS,
    ("DELETE", "/api/v1/cases/{case_id}/parties/{party_id}"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/notes"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/attachments"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/attachments/{attachment_id}"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/links"): CASE_WORKERS,
    ("DELETE", "/api/v1/cases/{case_id}/links/{link_id}"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/audit"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/evidence-pack"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/suggestions"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/evidence.geojson"): CASE_WORKERS,
    ("POST", "/api/v1/cases/{case_id}/links/batch"): CASE_WORKERS,
    ("GET", "/api/v1/cases/{case_id}/evidence-pack.pdf"): CASE_WORKERS,
    ("GET", "/maps/overview"): CASE_READERS,
    ("GET", "/maps/cases/{case_id}"): CASE_WORKERS,
}
# Exports and the OGC API decide per collection (public, or by role and API-key scope): tests/test_exports.py
# and tests/test_ogc_api.py check those decisions; here they are reachable by anyone.
for _path in (
    "/api/v1/exports/{name}",
    "/ogc",
    "/ogc/conformance",
    "/ogc/collections",
    "/ogc/collections/{name}",
    "/ogc/collections/{name}/items",
    "/ogc/collections/{name}/items/{feature_id}",
    "/ogc/api",
    "/ogc/collections/{name}/queryables",
    "/ogc/collections/{name}/sortables",
    "/ogc/collections/{name}/schema",
    "/ogc/tileMatrixSets",
    "/ogc/tileMatrixSets/{tms}",
    "/ogc/collections/{name}/tiles",
    "/ogc/collections/{name}/tiles/{tms}",
    "/ogc/collections/{name}/tiles/{tms}/tilejson.json",
    "/ogc/collections/{name}/tiles/{tms}/{tile_matrix}/{tile_row}/{tile_col}",
):
    POLICY[("GET", _path)] = PUBLIC
# Satellite hotspots and rasters are public data; loading them is for administrators.
for _path in (
    "/api/v1/hotspots",
    "/api/v1/hotspots/events",
    "/api/v1/hotspots/summary",
    "/api/v1/hotspots/recurrence",
    "/api/v1/hotspots/recurrence/{code}/grid",
    "/api/v1/rasters",
    "/api/v1/rasters/{raster_id}",
    "/api/v1/rasters/{raster_id}/fire-features",
):
    POLICY[("GET", _path)] = PUBLIC
POLICY[("GET", "/api/v1/admin/hotspots/batches")] = ADMIN
POLICY[("POST", "/api/v1/admin/hotspots/firms")] = ADMIN
POLICY[("POST", "/api/v1/admin/rasters")] = ADMIN
for _method, _path in (
    ("POST", "/api/v1/briefs"),
    ("GET", "/api/v1/briefs"),
    ("GET", "/api/v1/briefs/{brief_id}"),
    ("GET", "/api/v1/briefs/{brief_id}.pdf"),
):
    POLICY[(_method, _path)] = {"administrator", "investigator", "committee_member"}
POLICY[("GET", "/maps/rasters/{raster_id}")] = {"administrator", "investigator", "committee_member"}
ROLES = ("administrator", "investigator", "field_officer", "committee_member", "partner")


def routes(app):
    """Every documented operation (the service documents all of its routes in OpenAPI)."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), path


@pytest.fixture
def callers(client, login, admin_headers):
    headers = {"anonymous": {}, "administrator": admin_headers}
    for role in ROLES[1:]:
        headers[role] = login(f"user_{role}", role)
    key = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "GISTDA", "scopes": ["districts"]}
    ).json()["key"]
    headers["partner_api_key"] = {"X-API-Key": key}
    return headers


@pytest.mark.slow
def test_every_route_has_a_declared_policy(client):
    declared = set(POLICY)
    actual = set(routes(client.app))
    assert actual - declared == set(), "routes without a role policy"
    assert declared - actual == set(), "policies for routes that no longer exist"


@pytest.mark.slow
def test_every_role_against_every_route(client, callers):
    failures = []
    # signing out revokes the caller's token: that route goes last
    for method, path in sorted(routes(client.app), key=lambda r: (r[1] == "/api/v1/auth/logout", r)):
        url = re.sub(r"\{[^}]+\}", "999999", path)
        policy = POLICY[(method, path)]
        for caller, headers in callers.items():
            role = "partner" if caller == "partner_api_key" else caller
            kwargs = {"json": {}} if method in ("POST", "PATCH") else {}
            status = client.request(method, url, headers=headers, **kwargs).status_code
            if policy == PUBLIC:
                allowed = True
            elif policy == SIGNED_IN:
                allowed = caller != "anonymous"
            else:
                allowed = role in policy
            if allowed and status in (401, 403):
                failures.append(f"{caller} refused ({status}) at {method} {path}")
            if not allowed:
                expected = 401 if caller == "anonymous" else 403
                if status != expected:
                    failures.append(f"{caller} got {status} instead of {expected} at {method} {path}")
            if status >= 500:
                failures.append(f"{caller} got {status} at {method} {path}")
    assert failures == []


def test_revoked_api_key_stops_working(client, callers, admin_headers):
    key_headers = callers["partner_api_key"]
    assert client.get("/api/v1/auth/me", headers=key_headers).json()["roles"] == ["partner"]
    key_id = client.get("/api/v1/admin/api-keys", headers=admin_headers).json()[0]["id"]
    assert client.delete(f"/api/v1/admin/api-keys/{key_id}", headers=admin_headers).status_code == 204
    r = client.get("/api/v1/auth/me", headers=key_headers)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": "gsk_nothing_here"}).status_code == 401
