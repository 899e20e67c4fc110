"""Every role against every route: each route declares who may call it, and the service agrees.

A route added without an entry in POLICY fails this test, so no route can ship without a decision.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.conftest import PASSWORD
from tests.forest_patch_fixtures import insert_patches
from tests.provinces import NAN_POINT, PHRAE_POINT, load_nan, load_red_flag_records

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
POLICY[("GET", "/api/v1/admin/hotspots/partitions")] = ADMIN
POLICY[("GET", "/api/v1/worker/jobs")] = ADMIN
POLICY[("GET", "/api/v1/admin/hotspots/batches")] = ADMIN
POLICY[("POST", "/api/v1/admin/hotspots/firms")] = ADMIN
POLICY[("POST", "/api/v1/admin/rasters")] = ADMIN
# Forest-loss alert ingests (issue 14): uploading and reading the ingest records is for administrators.
POLICY[("POST", "/api/v1/forest-loss/ingests")] = ADMIN
POLICY[("GET", "/api/v1/forest-loss/ingests")] = ADMIN
POLICY[("GET", "/api/v1/forest-loss/ingests/{ingest_id}")] = ADMIN
for _method, _path in (
    ("POST", "/api/v1/briefs"),
    ("GET", "/api/v1/briefs"),
    ("GET", "/api/v1/briefs/{brief_id}"),
    ("GET", "/api/v1/briefs/{brief_id}.pdf"),
):
    # the national viewer reads and makes briefs: counts only, national or per province
    POLICY[(_method, _path)] = {"administrator", "investigator", "committee_member", "national_viewer"}
# Clearing patches (forest-loss alerts): the incident readers, each within their provinces; partner keys only
# when allowed incidents or clearing_patches (tests/test_forest_loss_outputs.py; the matrix's key is not).
for _path in ("/api/v1/forest-loss/patches", "/api/v1/forest-loss/patches/{patch_id}", "/api/v1/forest-loss/summary"):
    POLICY[("GET", _path)] = INCIDENT_READERS
# Open data (issue 17): the transparency page, its catalogue, tables and the briefs marked public; marking one
# public is the administrators' (no committee-chair role exists). tests/test_open_data.py walks the public ones.
for _path in (
    "/open",
    "/catalog.json",
    "/open/data/{name}.csv",
    "/open/data/{name}.geojson",
    "/open/briefs/{brief_id}.pdf",
):
    POLICY[("GET", _path)] = PUBLIC
POLICY[("PUT", "/api/v1/briefs/{brief_id}/public")] = ADMIN
POLICY[("GET", "/maps/rasters/{raster_id}")] = {"administrator", "investigator", "committee_member"}
# Forest-loss field verification loop (issue 14): investigators send patches to the field, officers visit them
POLICY[("POST", "/api/v1/forest-loss/patches/{patch_id}/tasks")] = CASE_WORKERS
POLICY[("GET", "/api/v1/forest-loss/tasks")] = REPORTERS
POLICY[("POST", "/api/v1/forest-loss/tasks/{task_id}/outcome")] = REPORTERS
POLICY[("GET", "/api/v1/forest-loss/verification")] = {
    "administrator",
    "investigator",
    "committee_member",
    "national_viewer",
}
# Reports from the public (issue 17): sending, the position check and the receipt's follow-up need no account (a
# network member may send signed in); triage is for administrators and investigators; the contact details and the
# photos as received only for the assigned investigator (checked beyond the role in tests/test_citizen_reports.py).
for _method, _path in (
    ("POST", "/api/v1/citizen/reports"),
    ("POST", "/api/v1/citizen/locate"),
    ("GET", "/api/v1/citizen/receipt"),
    ("POST", "/api/v1/citizen/receipt/additions"),
    ("POST", "/api/v1/citizen/auth/token"),  # a network member's sign-in (staff accounts refused, 401)
):
    POLICY[(_method, _path)] = PUBLIC
POLICY[("POST", "/api/v1/citizen/auth/logout")] = {"network_member"}
CITIZEN_TRIAGE = {"administrator", "investigator"}
for _method, _path in (
    ("GET", "/api/v1/citizen/reports"),
    ("GET", "/api/v1/citizen/reports/{report_id}"),
    ("GET", "/api/v1/citizen/reports/{report_id}/photos/{photo_id}"),
    ("POST", "/api/v1/citizen/reports/{report_id}/assign"),
    ("POST", "/api/v1/citizen/reports/{report_id}/accept"),
    ("POST", "/api/v1/citizen/reports/{report_id}/merge"),
    ("POST", "/api/v1/citizen/reports/{report_id}/reject"),
):
    POLICY[(_method, _path)] = CITIZEN_TRIAGE
POLICY[("POST", "/api/v1/citizen/reports/{report_id}/contact")] = {"investigator"}
POLICY[("GET", "/api/v1/citizen/reports/{report_id}/photos/{photo_id}/original")] = {"investigator"}
POLICY[("POST", "/api/v1/citizen/network/members")] = ADMIN
POLICY[("GET", "/api/v1/citizen/network/members")] = ADMIN
POLICY[("GET", "/api/v1/citizen/network/districts")] = {
    "administrator",
    "investigator",
    "committee_member",
    "national_viewer",
}
ROLES = (
    "administrator",
    "investigator",
    "field_officer",
    "committee_member",
    "partner",
    "national_viewer",
    "network_member",
)
# Alerts to people: every account of the programme manages its own (administrators: anyone's and groups');
# partner systems are not told. The unsubscribe link and the /alerts page are outside the API (signed token, page).
ALERT_USERS = {"administrator", "investigator", "field_officer", "committee_member", "national_viewer"}
for _method, _path in (
    ("GET", "/api/v1/alerts/subscriptions"),
    ("POST", "/api/v1/alerts/subscriptions"),
    ("GET", "/api/v1/alerts/subscriptions/{subscription_id}"),
    ("PATCH", "/api/v1/alerts/subscriptions/{subscription_id}"),
    ("DELETE", "/api/v1/alerts/subscriptions/{subscription_id}"),
    ("GET", "/api/v1/alerts/contacts"),
    ("PUT", "/api/v1/alerts/contacts"),
    ("GET", "/api/v1/alerts/recent"),
):
    POLICY[(_method, _path)] = ALERT_USERS
# Red flags: parcels (land documents) and every flag for investigators and administrators only, never committee,
# partners, field officers or the national viewer; loads, edits and "run now" for administrators.
for _method, _path in (
    ("GET", "/api/v1/redflags/contracts"),
    ("GET", "/api/v1/redflags/contracts/{contract_id}"),
    ("GET", "/api/v1/redflags/parcels"),
    ("GET", "/api/v1/redflags/parcels/{parcel_id}"),
    ("GET", "/api/v1/redflags/flags"),
    ("GET", "/api/v1/redflags/flags.geojson"),
    ("GET", "/api/v1/redflags/flags/{flag_id}"),
    ("POST", "/api/v1/redflags/flags/{flag_id}/dismiss"),
    ("POST", "/api/v1/redflags/flags/{flag_id}/case"),
    ("POST", "/api/v1/redflags/flags/{flag_id}/link"),
    ("GET", "/api/v1/redflags/contractors/{name}"),
    ("GET", "/api/v1/redflags/contracts/{contract_id}/sheet"),
    ("GET", "/api/v1/redflags/contracts/{contract_id}/sheet.pdf"),
    ("GET", "/api/v1/redflags/parcels/{parcel_id}/sheet"),
    ("GET", "/api/v1/redflags/parcels/{parcel_id}/sheet.pdf"),
):
    POLICY[(_method, _path)] = CASE_WORKERS
for _method, _path in (
    ("POST", "/api/v1/admin/redflags/contracts"),
    ("POST", "/api/v1/admin/redflags/parcels"),
    ("POST", "/api/v1/admin/redflags/run"),
    ("POST", "/api/v1/admin/redflags/vegetation"),
    ("PATCH", "/api/v1/redflags/contracts/{contract_id}"),
    ("PATCH", "/api/v1/redflags/parcels/{parcel_id}"),
):
    POLICY[(_method, _path)] = ADMIN
ROLES = ("administrator", "investigator", "field_officer", "committee_member", "partner", "national_viewer")


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
    # signing out revokes the caller's token: those routes go last, the one for every account at the very end
    last = ("/api/v1/citizen/auth/logout", "/api/v1/auth/logout")
    for method, path in sorted(routes(client.app), key=lambda r: (last.index(r[1]) if r[1] in last else -1, r)):
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


# --- a second province: every route that names a case, an incident, a photo, a clearing patch or its field task,
# or a red-flag record (flag, contract, parcel) hides Nan's from Phrae's people --
RECORD_PARAMS = (
    "{case_id}",
    "{incident_id}",
    "{photo_id}",
    "{patch_id}",
    "{task_id}",
    "{flag_id}",
    "{contract_id}",
    "{parcel_id}",
)


@pytest.mark.slow
def test_every_record_route_hides_another_provinces_records(db_url, sessionmaker_for, client_factory, admin_headers):
    """Phrae's investigator, field officer and committee member get, on every route naming Nan's case, incident,
    photo, clearing patch or field task, the answer an absent record gets (404; 422 when the request body is refused first, which does
    not depend on the record): never its content, and never a 403 that would say it exists."""
    load_nan(sessionmaker_for(db_url))
    client = client_factory(db_url)

    def login(username, role, provinces):
        body = {"username": username, "password": PASSWORD, "roles": [role], "provinces": provinces}
        assert client.post("/api/v1/admin/users", headers=admin_headers, json=body).status_code == 201
        token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    nan_inv = login("nan_inv", "investigator", ["55"])
    nan_officer = login("nan_officer", "field_officer", ["55"])
    incident = client.post(
        "/api/v1/incidents", headers=nan_officer, json={"kind": "wildfire", "location": NAN_POINT}
    ).json()
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 40)).save(buf, format="PNG")
    photo = client.post(
        f"/api/v1/incidents/{incident['id']}/photos", headers=nan_officer, files={"files": ("p.png", buf.getvalue())}
    )
    assert photo.status_code in (200, 201), photo.text
    photo_id = photo.json()[0]["id"]
    case = client.post("/api/v1/cases", headers=nan_inv, json={"title": "Nan's case", "category": "other"}).json()
    # Nan's clearing patch (hand-built, tests/forest_patch_fixtures.py) and its open field task
    with sessionmaker_for(db_url)() as s, s.begin():
        patch_id = insert_patches(s, PHRAE_POINT["lon"], PHRAE_POINT["lat"], NAN_POINT)["nan"]
    task = client.post(f"/api/v1/forest-loss/patches/{patch_id}/tasks", headers=nan_inv, json={})
    assert task.status_code == 201, task.text
    ids = {
        "{case_id}": str(case["id"]),
        "{incident_id}": str(incident["id"]),
        "{photo_id}": str(photo_id),
        "{patch_id}": str(patch_id),
        "{task_id}": str(task.json()["id"]),
    }
    ids.update({f"{{{k}}}": str(v) for k, v in load_red_flag_records(client, admin_headers, NAN_POINT, "nan").items()})
    callers = {
        role: login(f"phrae_{role}", role, ["54"]) for role in ("investigator", "field_officer", "committee_member")
    }
    checked, failures = 0, []
    for method, path in sorted(routes(client.app)):
        if not any(p in path for p in RECORD_PARAMS):
            continue
        policy = POLICY[(method, path)]
        url = path
        for param, value in ids.items():
            url = url.replace(param, value)
        url = re.sub(r"\{[^}]+\}", "999999", url)
        for role, headers in callers.items():
            if policy in (PUBLIC, SIGNED_IN) or role not in policy:
                continue  # refused by role before any record is read (the role matrix above)
            kwargs = {"json": {}} if method in ("POST", "PATCH") else {}
            status = client.request(method, url, headers={**headers, "If-Match": 'W/"1"'}, **kwargs).status_code
            checked += 1
            if status != 404 and not (status == 422 and method != "GET"):
                failures.append(f"{role} got {status} at {method} {url}")
    assert failures == []
    assert checked >= 50  # the loop really ran over the case, incident, photo, patch, task and red-flag routes
    # and the Nan investigator does reach them (the ids are real)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=nan_inv).status_code == 200
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=nan_inv).status_code == 200
    assert client.get(f"/api/v1/photos/{photo_id}", headers=nan_inv).status_code == 200
    assert client.get(f"/api/v1/forest-loss/patches/{patch_id}", headers=nan_inv).status_code == 200
    # a valid outcome (not refused for its body first) on Nan's task: absent for Phrae's officer, done for Nan's
    outcome = {"outcome": "false_alarm"}
    url = f"/api/v1/forest-loss/tasks/{task.json()['id']}/outcome"
    assert client.post(url, headers=callers["field_officer"], json=outcome).status_code == 404
    assert client.post(url, headers=nan_officer, json=outcome).status_code == 200
    for route in ("flags/{flag_id}", "contracts/{contract_id}", "parcels/{parcel_id}"):
        assert (
            client.get(
                "/api/v1/redflags/" + route.format_map({k[1:-1]: v for k, v in ids.items()}), headers=nan_inv
            ).status_code
            == 200
        )
