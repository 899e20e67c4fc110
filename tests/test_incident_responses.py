"""The incident and photo routes answer exactly what their declared response models say (every key listed, no
key left out), for insiders and for callers who get redacted records; and the status machine's case side."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from geo_service.api.geojson import FeatureCollection
from geo_service.incidents.schemas import (
    ImportReportOut,
    IncidentOut,
    IncidentPage,
    LocateOut,
    PhotoOut,
)
from tests.test_photos import photo, upload

AREA = {
    "type": "Polygon",
    "coordinates": [[[100.14, 18.14], [100.1419, 18.14], [100.1419, 18.1418], [100.14, 18.1418], [100.14, 18.14]]],
}


@pytest.mark.slow
def test_every_json_answer_matches_its_model(client, officer, login):
    committee = login("committee1", "committee_member")
    report = {
        "kind": "burning",
        "location": {"lat": 18.1409, "lon": 100.1409, "accuracy_m": 5},
        "observed_at": "2024-03-15T14:00:00+07:00",
        "area": AREA,
        "tags": ["haze"],
    }
    key = {**officer, "Idempotency-Key": "responses-1"}
    r = client.post("/api/v1/incidents", headers=key, json=report)
    assert r.status_code == 201, r.text
    IncidentOut.model_validate(r.json())
    replay = client.post("/api/v1/incidents", headers=key, json=report)  # the same report again: a replay
    assert replay.status_code == 200
    IncidentOut.model_validate(replay.json())
    inc = r.json()
    assert inc["area"] and inc["place"]["protected_areas"] is not None

    photos = upload(client, officer, inc["id"], ("a.jpg", photo()), ("b.png", photo("PNG")))
    assert photos.status_code == 201, photos.text
    assert len([PhotoOut.model_validate(p) for p in photos.json()]) == 2

    for headers in (officer, committee):  # the author, and a reader of redacted records
        one = client.get(f"/api/v1/incidents/{inc['id']}", headers=headers).json()
        assert len(IncidentOut.model_validate(one).photos) == 2
        page = client.get("/api/v1/incidents", headers=headers, params={"limit": 1}).json()
        IncidentPage.model_validate(page)
        fc = client.get("/api/v1/incidents.geojson", headers=headers).json()
        FeatureCollection.model_validate(fc)
        for feature in fc["features"]:  # the incident's keys, its position as the geometry
            assert set(feature["properties"]) == set(IncidentOut.model_fields) - {"location"} | {"location_text"}
    redacted = IncidentOut.model_validate(client.get(f"/api/v1/incidents/{inc['id']}", headers=committee).json())
    assert redacted.reporter is None and redacted.created_by is None

    changed = client.patch(
        f"/api/v1/incidents/{inc['id']}", headers={**officer, "If-Match": 'W/"1"'}, json={"description": "edited"}
    )
    assert changed.status_code == 200 and IncidentOut.model_validate(changed.json()).version == 2

    inside = client.post("/api/v1/incidents/locate", headers=officer, json={"text": "18.1452, 100.1417"})
    LocateOut.model_validate(inside.json())
    outside = client.post(
        "/api/v1/incidents/locate",
        headers=officer,
        json={"lat": 13.7563, "lon": 100.5018, "confirm_outside_province": True},
    )
    assert LocateOut.model_validate(outside.json()).place.nearest_district is not None

    csv = b'kind,location\nwildfire,"18.2, 100.3"\nvolcano,"18.2, 100.3"\n'
    dry = client.post(
        "/api/v1/incidents/import", headers=officer, files={"file": ("x.csv", csv)}, data={"dry_run": "true"}
    )
    assert ImportReportOut.model_validate(dry.json()).counts.refused == 1
    done = client.post(
        "/api/v1/incidents/import",
        headers=officer,
        files={"file": ("y.csv", csv.splitlines(keepends=True)[0] + csv.splitlines(keepends=True)[1])},
        data={"dry_run": "false"},
    )
    assert done.status_code == 201 and ImportReportOut.model_validate(done.json()).stored


def test_case_side_of_the_status_machine(client, officer, db_url, sessionmaker_for):
    from geo_service.auth import Principal, Role
    from geo_service.incidents import service

    inc = client.post(
        "/api/v1/incidents", headers=officer, json={"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}}
    ).json()
    who = Principal("lead", frozenset({Role.investigator}))
    with sessionmaker_for(db_url)() as s, s.begin():
        assert service.mark_unlinked(s, [str(inc["id"])], who) == []  # not linked: nothing to undo
        assert service.mark_linked(s, [str(inc["id"])], who) == [inc["id"]]
        assert service.mark_linked(s, [str(inc["id"])], who) == []  # already linked
    after = client.get(f"/api/v1/incidents/{inc['id']}", headers=officer).json()
    assert after["status"] == "linked" and after["version"] == 2 and after["updated_by"] == "lead"
    with sessionmaker_for(db_url)() as s, s.begin():
        assert service.mark_unlinked(s, [str(inc["id"])], who) == [inc["id"]]
        audited = s.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE entity_type = 'incident' AND entity_id = :id "
                "AND action = 'update'"
            ),
            {"id": str(inc["id"])},
        ).scalar()
    assert audited == 2
    after = client.get(f"/api/v1/incidents/{inc['id']}", headers=officer).json()
    assert after["status"] == "verified" and after["version"] == 3
