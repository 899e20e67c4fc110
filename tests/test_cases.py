"""Cases: workflow, redaction by role (also enforced by row-level security), links, locking, attachments."""

from __future__ import annotations

import hashlib
import itertools
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from geo_service.auth import Principal, Role
from geo_service.cases.access import act_as

SECRET_NAME = "นายสมชาย ลับมาก"  # a named official: must never reach a role that may not see it
SECRET_NOTE = "informant says the permit was bought"


@pytest.fixture
def people(login):
    return {
        "lead": login("lead", "investigator"),
        "other": login("other", "investigator"),
        "committee": login("committee", "committee_member"),
        "officer": login("officer", "field_officer"),
        "partner": login("partnerperson", "partner"),
    }


@pytest.fixture
def incident(client, people, login):
    r = client.post(
        "/api/v1/incidents",
        headers=people["officer"],
        json={"kind": "encroachment", "location": {"lat": 18.2, "lon": 100.3}},
    )
    assert r.status_code == 201
    return r.json()


def open_case(client, headers, **extra):
    body = {
        "title": "Permits inside Mae Yom reserve",
        "summary": "Complaint about land documents",
        "category": "land_documents_in_reserve",
        "received_on": "2024-11-05",
        **extra,
    }
    r = client.post("/api/v1/cases", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.slow
def test_open_case_reference_and_workflow(client, people):
    case = open_case(client, people["lead"])
    assert case["reference"] == "NACC-PR-2568-0001"  # received in FY 2568 (Oct 2024 - Sep 2025)
    assert case["stage"] == "received" and case["stage_th"] == "รับเรื่องร้องเรียน"
    assert case["assigned"] == ["lead"] and case["fiscal_year_be"] == 2568
    second = open_case(client, people["lead"], received_on="2024-09-30")
    assert second["reference"] == "NACC-PR-2567-0001"
    url = f"/api/v1/cases/{case['id']}/transitions"
    lead = {**people["lead"], "If-Match": 'W/"1"'}
    bad = client.post(url, json={"to_stage": "decision", "reason": "skipping ahead"}, headers=lead)
    assert bad.status_code == 409 and "preliminary_review" in bad.json()["error"]["message"]
    short = client.post(url, json={"to_stage": "preliminary_review", "reason": "ok"}, headers=lead)
    assert short.status_code == 422  # a reason is required
    unversioned = client.post(
        url, json={"to_stage": "preliminary_review", "reason": "no If-Match"}, headers=people["lead"]
    )
    assert unversioned.status_code == 428
    version = 1
    for stage in ("preliminary_review", "fact_finding", "decision", "referred", "closed"):
        r = client.post(
            url,
            json={"to_stage": stage, "reason": f"moving to {stage}"},
            headers={**people["lead"], "If-Match": f'W/"{version}"'},
        )
        assert r.status_code == 200, r.text
        version = r.json()["version"]
    final = r.json()
    assert final["stage"] == "closed" and final["closed_on"]
    assert [t["to_stage"] for t in final["transitions"]] == [
        "received",
        "preliminary_review",
        "fact_finding",
        "decision",
        "referred",
        "closed",
    ]
    reopened = client.post(
        url,
        json={"to_stage": "preliminary_review", "reason": "new evidence arrived"},
        headers={**people["lead"], "If-Match": f'W/"{version}"'},
    ).json()
    assert reopened["stage"] == "preliminary_review" and reopened["closed_on"] is None
    assert (
        client.post(
            url,
            json={"to_stage": "fact_finding", "reason": "not mine"},
            headers={**people["other"], "If-Match": f'W/"{reopened["version"]}"'},
        ).status_code
        == 403
    )


@pytest.mark.slow
def test_confidential_fields_by_role(client, people, admin_headers, incident):
    case = open_case(client, people["lead"])
    cid = case["id"]
    client.post(
        f"/api/v1/cases/{cid}/parties",
        headers=people["lead"],
        json={"name": SECRET_NAME, "position": "forest officer", "party_role": "official_concerned"},
    )
    client.post(f"/api/v1/cases/{cid}/notes", headers=people["lead"], json={"body": SECRET_NOTE})
    client.post(
        f"/api/v1/cases/{cid}/notes", headers=people["lead"], json={"body": "site visit planned", "confidential": False}
    )
    client.post(
        f"/api/v1/cases/{cid}/links",
        headers=people["lead"],
        json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing seen"},
    )
    lead = client.get(f"/api/v1/cases/{cid}", headers=people["lead"]).json()
    assert lead["parties"][0]["name"] == SECRET_NAME and len(lead["notes"]) == 2
    assert client.get(f"/api/v1/cases/{cid}", headers=admin_headers).json()["parties"][0]["name"] == SECRET_NAME
    other = client.get(f"/api/v1/cases/{cid}", headers=people["other"])
    assert other.status_code == 200 and "parties" not in other.json()
    assert [n["body"] for n in other.json()["notes"]] == ["site visit planned"]
    committee = client.get(f"/api/v1/cases/{cid}", headers=people["committee"])
    assert committee.status_code == 200
    assert set(committee.json()) >= {"reference", "stage", "category", "districts"} and "title" not in committee.json()
    assert committee.json()["evidence_counts"]["incident"] == 1 and committee.json()["districts"] == ["5402"]
    for who in ("officer", "partner"):
        assert client.get(f"/api/v1/cases/{cid}", headers=people[who]).status_code == 403
    # The secret never appears in anything a non-insider receives.
    for who in ("other", "committee"):
        for url in (f"/api/v1/cases/{cid}", "/api/v1/cases"):
            body = client.get(url, headers=people[who]).text
            assert SECRET_NAME not in body and SECRET_NOTE not in body
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"] == "linked"


def test_confidential_case_is_invisible_outside_its_team(client, people, admin_headers):
    case = open_case(client, people["lead"], confidentiality="confidential")
    cid = case["id"]
    assert client.get(f"/api/v1/cases/{cid}", headers=people["other"]).status_code == 404
    assert client.get(f"/api/v1/cases/{cid}", headers=people["committee"]).status_code == 404
    assert client.get("/api/v1/cases", headers=people["other"]).json()["total"] == 0
    assert client.get("/api/v1/cases", headers=people["committee"]).json()["total"] == 0
    assert client.get(f"/api/v1/cases/{cid}", headers=admin_headers).status_code == 200
    client.post(f"/api/v1/cases/{cid}/assignments", headers=people["lead"], json={"username": "other"})
    assert client.get(f"/api/v1/cases/{cid}", headers=people["other"]).status_code == 200
    bad = client.post(f"/api/v1/cases/{cid}/assignments", headers=people["lead"], json={"username": "committee"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_assignee"


def test_row_level_security_holds_even_for_raw_sql(client, people, db_url, sessionmaker_for):
    """The database itself hides parties and confidential cases, whatever query the service runs."""
    open_case(client, people["lead"], confidentiality="confidential")
    internal = open_case(client, people["lead"])
    client.post(
        f"/api/v1/cases/{internal['id']}/parties",
        headers=people["lead"],
        json={"name": SECRET_NAME, "party_role": "suspect"},
    )
    factory = sessionmaker_for(db_url)
    for who, roles, cases, parties in (
        ("other", {Role.investigator}, 1, 0),
        ("committee", {Role.committee_member}, 1, 0),
        ("officer", {Role.field_officer}, 0, 0),
        ("lead", {Role.investigator}, 2, 1),
        ("boss", {Role.administrator}, 2, 1),
    ):
        with factory() as s, s.begin():
            act_as(s, Principal(who, frozenset(roles)))
            assert s.execute(text("SELECT count(*) FROM cases")).scalar() == cases, who
            assert s.execute(text("SELECT count(*) FROM case_parties")).scalar() == parties, who
            if not parties:
                with s.begin_nested():
                    s.execute(text("UPDATE case_parties SET name = 'x'"))
                    assert s.execute(text("SELECT count(*) FROM case_parties WHERE name = 'x'")).scalar() == 0


def test_optimistic_locking_on_cases(client, people):
    case = open_case(client, people["lead"])
    url = f"/api/v1/cases/{case['id']}"
    assert client.patch(url, json={"title": "New title"}, headers=people["lead"]).status_code == 428
    ok = client.patch(url, json={"title": "New title"}, headers={**people["lead"], "If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.patch(url, json={"summary": "stale"}, headers={**people["lead"], "If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.json()["error"]["details"][0]["current"]["title"] == "New title"
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda t: client.patch(url, json={"title": t}, headers={**people["lead"], "If-Match": 'W/"2"'}),
                ["Title A", "Title B"],
            )
        )
    assert sorted(r.status_code for r in results) == [200, 412]
    assert (
        client.post(
            f"{url}/transitions",
            json={"to_stage": "preliminary_review", "reason": "stale version"},
            headers={**people["lead"], "If-Match": 'W/"1"'},
        ).status_code
        == 412
    )


@pytest.mark.slow
def test_links_validate_their_target_and_unlinking_restores_the_incident(client, people, incident):
    case = open_case(client, people["lead"])
    url = f"/api/v1/cases/{case['id']}/links"
    assert (
        client.post(
            url, headers=people["lead"], json={"target_type": "incident", "target_id": "999999", "reason": "nope"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            url,
            headers=people["lead"],
            json={"target_type": "protected_area", "target_id": "NRF-PR-001", "reason": "the reserve concerned"},
        ).status_code
        == 201
    )
    assert (
        client.post(
            url, headers=people["lead"], json={"target_type": "district", "target_id": "5406", "reason": "district"}
        ).status_code
        == 201
    )
    linked = client.post(
        url,
        headers=people["lead"],
        json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing"},
    )
    again = client.post(
        url,
        headers=people["lead"],
        json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing"},
    )
    assert linked.status_code == 201 and again.status_code == 409
    body = linked.json()
    assert body["protected_areas"] == ["NRF-PR-001"] and set(body["districts"]) == {"5402", "5406"}
    link_id = next(link["id"] for link in body["links"] if link["target_type"] == "incident")
    r = client.delete(f"{url}/{link_id}", headers=people["lead"])
    assert r.status_code == 200
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"] == "verified"


def test_attachments_keep_their_sha256(client, people):
    case = open_case(client, people["lead"])
    data = "สัญญาจ้างทำแนวกันไฟ".encode() * 100
    r = client.post(
        f"/api/v1/cases/{case['id']}/attachments",
        headers=people["lead"],
        files={"file": ("contract.pdf", data, "application/pdf")},
        data={"description": "contract"},
    )
    assert r.status_code == 201
    att = r.json()["attachments"][0]
    assert att["sha256"] == hashlib.sha256(data).hexdigest() and att["size_bytes"] == len(data)
    got = client.get(att["url"], headers=people["lead"])
    assert got.content == data and got.headers["content-type"] == "application/octet-stream"
    assert client.get(att["url"], headers=people["other"]).status_code == 403


def test_committee_and_others_cannot_write(client, people):
    case = open_case(client, people["lead"])
    cid = case["id"]
    assert (
        client.post(
            "/api/v1/cases", json={"title": "x" * 5, "category": "other"}, headers=people["committee"]
        ).status_code
        == 403
    )
    assert client.post(f"/api/v1/cases/{cid}/notes", json={"body": "x"}, headers=people["other"]).status_code == 403
    assert client.delete(f"/api/v1/cases/{cid}", headers=people["lead"]).status_code == 403


def test_delete_is_admin_only_and_audited(client, people, admin_headers, incident):
    case = open_case(client, people["lead"])
    client.post(
        f"/api/v1/cases/{case['id']}/links",
        headers=people["lead"],
        json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "x" * 5},
    )
    assert client.delete(f"/api/v1/cases/{case['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"/api/v1/cases/{case['id']}", headers=admin_headers).status_code == 404
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"] == "verified"
    verify = client.get("/api/v1/admin/audit/verify", headers=admin_headers).json()
    assert verify["ok"] and verify["entries"] > 5


@pytest.mark.slow
def test_simultaneous_transitions_from_one_version_only_one_succeeds(client, people):
    """Two investigators move the same case at the same moment from the version both read: one wins, the
    other gets 412, and the stage history adds up (each transition starts where the previous one ended)."""
    import threading

    rounds = 8
    for n in range(rounds):
        case = open_case(client, people["lead"])
        url = f"/api/v1/cases/{case['id']}/transitions"
        start = threading.Barrier(2)

        def move(stage, headers=people["lead"], v=case["version"], start=start, url=url, n=n):
            start.wait()
            return client.post(
                url,
                json={"to_stage": stage, "reason": f"round {n}: to {stage}"},
                headers={**headers, "If-Match": f'W/"{v}"'},
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(move, ["preliminary_review", "closed"]))
        assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
        final = client.get(f"/api/v1/cases/{case['id']}", headers=people["lead"]).json()
        steps = final["transitions"]
        assert len(steps) == 2 and final["version"] == case["version"] + 1
        assert all(b["from_stage"] == a["to_stage"] for a, b in itertools.pairwise(steps))
        assert final["stage"] == steps[-1]["to_stage"]


def test_deleting_a_case_keeps_an_incident_linked_that_another_case_still_links(
    client, people, admin_headers, incident
):
    """Only incidents no case links any more go back to 'verified'."""
    first, second = open_case(client, people["lead"]), open_case(client, people["lead"])
    link = {"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing seen"}
    for case in (first, second):
        assert client.post(f"/api/v1/cases/{case['id']}/links", headers=people["lead"], json=link).status_code == 201
    assert client.delete(f"/api/v1/cases/{first['id']}", headers=admin_headers).status_code == 204
    status = lambda: client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"]  # noqa: E731
    assert status() == "linked"
    assert client.delete(f"/api/v1/cases/{second['id']}", headers=admin_headers).status_code == 204
    assert status() == "verified"


@contextmanager
def statements(engine):
    """The SQL statements sent through ``engine`` inside the block."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _enrich(client, headers, case_id, districts, n):
    """Give a case ``n`` notes, parties and district links."""
    for i in range(n):
        client.post(f"/api/v1/cases/{case_id}/notes", headers=headers, json={"body": f"note {i}"})
        client.post(
            f"/api/v1/cases/{case_id}/parties", headers=headers, json={"name": f"person {i}", "party_role": "witness"}
        )
        client.post(
            f"/api/v1/cases/{case_id}/links",
            headers=headers,
            json={"target_type": "district", "target_id": districts[i], "reason": "area concerned"},
        )


@pytest.mark.slow
def test_a_case_page_and_a_case_list_take_a_fixed_number_of_statements(client, people, admin_headers, incident):
    """However many cases, links, notes and parties: the statements of a case page and of a list are counted
    on the app's engine (SQLAlchemy before_cursor_execute), for each role that sees a different page."""
    engine = client.app.state.engine
    districts = ["5401", "5402", "5403", "5404", "5405", "5406"]
    small, big = open_case(client, people["lead"]), open_case(client, people["lead"])
    for case, n in ((small, 1), (big, 5)):  # one of each, then five
        _enrich(client, people["lead"], case["id"], districts, n)
        client.post(
            f"/api/v1/cases/{case['id']}/links",
            headers=people["lead"],
            json={"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing"},
        )
    for who in ("lead", "other", "committee"):
        counts = []
        for case in (small, big):
            with statements(engine) as seen:
                r = client.get(f"/api/v1/cases/{case['id']}", headers=people[who])
            assert r.status_code == 200
            counts.append(len(seen))
        assert counts[0] == counts[1] <= 16, (who, counts)
    big_page = client.get(f"/api/v1/cases/{big['id']}", headers=people["lead"]).json()
    assert len(big_page["notes"]) == 5 and len(big_page["parties"]) == 5 and len(big_page["links"]) == 6

    def list_statements(headers):
        with statements(engine) as seen:
            r = client.get("/api/v1/cases", headers=headers)
        assert r.status_code == 200
        return len(seen), r.json()["total"]

    before = {who: list_statements(people[who]) for who in ("lead", "committee")}
    for _ in range(4):
        _enrich(client, people["lead"], open_case(client, people["lead"])["id"], districts, 2)
    for who in ("lead", "committee"):
        count, total = list_statements(people[who])
        assert total == before[who][1] + 4
        assert count == before[who][0] <= 16, (who, before[who], count)


@pytest.mark.slow
def test_the_case_model_lists_every_field_each_role_receives(client, people, admin_headers, incident):
    """The response model of the case routes names every key the service returns, for every role."""
    from geo_service.cases.schemas import CaseList, CaseOut

    case = open_case(client, people["lead"])
    cid = case["id"]
    _enrich(client, people["lead"], cid, ["5406"], 1)
    client.post(
        f"/api/v1/cases/{cid}/attachments", headers=people["lead"], files={"file": ("a.txt", b"x", "text/plain")}
    )
    for who in ("lead", "other", "committee"):
        body = client.get(f"/api/v1/cases/{cid}", headers=people[who]).json()
        assert CaseOut.model_validate(body).model_dump(mode="json", exclude_unset=True) == body, who
        listed = client.get("/api/v1/cases", headers=people[who]).json()
        assert listed["items"] == [body]
        assert CaseList.model_validate(listed).model_dump(mode="json", exclude_unset=True) == listed, who
    assert "parties" in client.get(f"/api/v1/cases/{cid}", headers=people["lead"]).json()
    assert "title" not in client.get("/api/v1/cases", headers=people["committee"]).json()["items"][0]


def test_batch_links_are_all_or_nothing_with_the_errors_of_single_links(client, people, incident):
    """The batch answers as the same links sent one by one would (first failure wins, nothing stays linked),
    with a fixed number of statements apart from one audit entry per link."""
    case = open_case(client, people["lead"])
    url = f"/api/v1/cases/{case['id']}/links/batch"
    lead = people["lead"]

    def link(target_type, target_id):
        return {"target_type": target_type, "target_id": target_id, "reason": "evidence"}

    missing = client.post(url, headers=lead, json=[link("district", "5406"), link("incident", "999999")])
    assert missing.status_code == 404 and "incident '999999'" in missing.json()["error"]["message"]
    twice = client.post(url, headers=lead, json=[link("district", "5406"), link("district", "5406")])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_linked"
    # the first failure in order decides: a duplicate before a missing target is a 409
    order = [link("district", "5406"), link("district", "5406"), link("hotspot", "999999")]
    assert client.post(url, headers=lead, json=order).status_code == 409
    assert client.post(url, headers=lead, json=[]).status_code == 400
    page = client.get(f"/api/v1/cases/{case['id']}", headers=lead).json()
    assert page["links"] == [] and page["version"] == case["version"]  # nothing stayed
    engine = client.app.state.engine
    with statements(engine) as two:
        r = client.post(url, headers=lead, json=[link("district", "5401"), link("incident", str(incident["id"]))])
    assert r.status_code == 201
    body = r.json()
    assert body["version"] == case["version"] + 2 and body["evidence_counts"]["district"] == 1
    assert [lk["target_id"] for lk in body["links"]] == ["5401", str(incident["id"])]
    assert r.headers["etag"] == f'W/"{body["version"]}"'
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"] == "linked"
    more = ["5402", "5403", "5404", "5405", "5406"]
    with statements(engine) as six:
        r = client.post(
            url, headers=lead, json=[link("district", d) for d in more] + [link("protected_area", "NRF-PR-001")]
        )
    assert r.status_code == 201 and r.json()["version"] == body["version"] + 6
    audit_inserts = lambda seen: sum("INSERT INTO audit_log" in s for s in seen)  # noqa: E731
    assert audit_inserts(two) == 3 and audit_inserts(six) == 6  # the incident's status change is audited too
    assert len(six) - audit_inserts(six) <= len(two) - audit_inserts(two)
    again = client.post(url, headers=lead, json=[link("district", "5401")])
    assert again.status_code == 409
    trail = [e["action"] for e in client.get(f"/api/v1/cases/{case['id']}/audit", headers=lead).json()]
    assert trail == ["create"]  # link entries are recorded under case_link, the case's own trail is unchanged


def test_unlinking_keeps_an_incident_a_confidential_case_still_links(client, people, incident):
    """The other team cannot see the confidential case, but its link still holds the incident at 'linked'."""
    secret = open_case(client, people["lead"], confidentiality="confidential")
    mine = open_case(client, people["other"])
    link = {"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing"}
    assert client.post(f"/api/v1/cases/{secret['id']}/links", headers=people["lead"], json=link).status_code == 201
    body = client.post(f"/api/v1/cases/{mine['id']}/links", headers=people["other"], json=link).json()
    link_id = next(x["id"] for x in body["links"] if x["target_type"] == "incident")
    assert client.get(f"/api/v1/cases/{secret['id']}", headers=people["other"]).status_code == 404  # unseen
    r = client.delete(f"/api/v1/cases/{mine['id']}/links/{link_id}", headers=people["other"])
    assert r.status_code == 200
    status = client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"]
    assert status == "linked"
    # and once the last link goes, it is 'verified' again
    secret_body = client.get(f"/api/v1/cases/{secret['id']}", headers=people["lead"]).json()
    secret_link = next(x["id"] for x in secret_body["links"] if x["target_type"] == "incident")
    assert client.delete(f"/api/v1/cases/{secret['id']}/links/{secret_link}", headers=people["lead"]).status_code == 200
    status = client.get(f"/api/v1/incidents/{incident['id']}", headers=people["officer"]).json()["status"]
    assert status == "verified"


def test_an_incident_a_case_links_keeps_its_status_until_unlinked(client, people, incident):
    """One status machine: 'linked' is left by unlinking, not by editing the incident."""
    case = open_case(client, people["lead"])
    link = {"target_type": "incident", "target_id": str(incident["id"]), "reason": "clearing"}
    assert client.post(f"/api/v1/cases/{case['id']}/links", headers=people["lead"], json=link).status_code == 201
    url = f"/api/v1/incidents/{incident['id']}"
    current = client.get(url, headers=people["lead"])
    assert current.json()["status"] == "linked"
    r = client.patch(url, json={"status": "verified"}, headers={**people["lead"], "If-Match": current.headers["etag"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "incident_linked"
    assert client.get(url, headers=people["lead"]).json()["status"] == "linked"
    # other fields may still be corrected
    r = client.patch(
        url, json={"description": "seen again"}, headers={**people["lead"], "If-Match": current.headers["etag"]}
    )
    assert r.status_code == 200 and r.json()["status"] == "linked"
