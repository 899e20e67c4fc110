"""Land documents never reach a committee member, a partner (signed in or by API key), a field officer, the national
viewer or the public, in ANY output (issue 15: "parcels never visible to committee or partners"): the brief, the
exports and the OGC API (items, tiles, the collections list), the maps, the sheets, the cases (and their
suggestions and evidence), the open-data page. A parcel with a recognisable document number and position is loaded,
flagged, and a case is opened from its flag; then every output each of these callers can read is fetched and
searched for the number and for the parcel's longitude. The administrator's red-flag export shows both, so the
search can find them when they are there."""

from __future__ import annotations

import json

import pytest

from geo_service.api_keys import SCOPES
from geo_service.exports.collections import COLLECTIONS
from tests.test_red_flags_map import DOC_NUMBER, parcel_corner, seed_flags
from tests.test_red_flags_map import centre as centre

CONFIDENTIAL_COLLECTIONS = ("red_flags", "redflag_contracts")


@pytest.mark.slow
def test_no_output_shows_a_land_document_to_anyone_but_investigators_and_admins(
    client,
    admin_headers,
    login,
    centre,
):
    seeded = seed_flags(client, admin_headers, centre)
    corner = parcel_corner(centre)
    inv = login("inv_conf", "investigator")
    doc_flag = seeded["flags"]["document"]
    case = client.post(
        f"/api/v1/redflags/flags/{doc_flag['id']}/case", headers=inv, json={"confidentiality": "internal"}
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    # the administrator's outputs carry the parcel: the search below can see it
    admin_export = client.get("/api/v1/exports/red_flags", headers=admin_headers)
    assert admin_export.status_code == 200 and corner.search(admin_export.text)
    assert DOC_NUMBER in client.get(f"/api/v1/redflags/parcels/{doc_flag['parcel_ids'][0]}/sheet", headers=inv).text
    # no partner key can be scoped to the red-flag collections
    for scope in CONFIDENTIAL_COLLECTIONS:
        r = client.post("/api/v1/admin/api-keys", headers=admin_headers, json={"name": "sneaky", "scopes": [scope]})
        assert r.status_code == 400, r.text
    key = client.post(
        "/api/v1/admin/api-keys", headers=admin_headers, json={"name": "every scope", "scopes": list(SCOPES)}
    ).json()["key"]

    callers = {
        "committee_member": login("com_conf", "committee_member"),
        "partner": login("partner_conf", "partner"),
        "field_officer": login("fo_conf", "field_officer"),
        "national_viewer": login("nv_conf", "national_viewer"),
        "partner_key": {"X-API-Key": key},
        "anonymous": {},
    }
    urls = [
        "/maps/overview?fiscal_year_be=2567",
        "/maps/overview?fiscal_year_be=2567&flags_dismissed=true&flags_rule=document_in_reserve",
        f"/maps/cases/{case_id}",
        "/api/v1/cases",
        f"/api/v1/cases/{case_id}",
        f"/api/v1/cases/{case_id}/suggestions",
        f"/api/v1/cases/{case_id}/evidence.geojson",
        f"/api/v1/cases/{case_id}/evidence-pack",
        "/api/v1/redflags/flags",
        "/api/v1/redflags/flags.geojson",
        f"/api/v1/redflags/parcels/{doc_flag['parcel_ids'][0]}/sheet",
        "/ogc/collections",
        "/open",
        "/catalog.json",
        "/api/v1/alerts/recent",
    ]
    for name in COLLECTIONS:
        urls += [f"/api/v1/exports/{name}", f"/ogc/collections/{name}/items?limit=1000"]
    refused_everywhere = [
        u
        for name in CONFIDENTIAL_COLLECTIONS
        for u in (
            f"/api/v1/exports/{name}",
            f"/ogc/collections/{name}",
            f"/ogc/collections/{name}/items",
            f"/ogc/collections/{name}/tiles/WebMercatorQuad/0/0/0",
        )
    ]
    read = 0
    for who, headers in callers.items():
        if who in ("committee_member", "national_viewer"):  # the brief: counts only
            made = client.post("/api/v1/briefs", headers=headers, json={"fiscal_year_be": 2567})
            assert made.status_code == 201, (who, made.text)
            assert made.json()["figures"]["red_flags"]["total"] >= 1
            urls_for = [*urls, f"/api/v1/briefs/{made.json()['id']}"]
            body = json.dumps(made.json(), ensure_ascii=False)
            assert DOC_NUMBER not in body and not corner.search(body), who
        else:
            urls_for = urls
        for url in urls_for:
            r = client.get(url, headers=headers)
            assert r.status_code < 500, (who, url, r.status_code)
            if r.status_code == 200:
                read += 1
                assert DOC_NUMBER not in r.text, (who, url)
                assert not corner.search(r.text), (who, url)
                assert "document_in_reserve:parcel" not in r.text, (who, url)
        for url in refused_everywhere:
            assert client.get(url, headers=headers).status_code in (401, 403, 404), (who, url)
        listed = client.get("/ogc/collections", headers=headers)
        if listed.status_code == 200:
            assert not {c["id"] for c in listed.json()["collections"]} & set(CONFIDENTIAL_COLLECTIONS), who
    assert read >= 40  # the callers did read outputs (maps, briefs, exports, OGC, open data), not only refusals
