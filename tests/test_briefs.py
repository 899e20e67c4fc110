"""The committee brief for a fiscal year: known numbers, counts only for cases, reproduced as made."""

from __future__ import annotations

import re

import pytest

HEADER = "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight"


def firms(*rows):
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def det(lat, lon, day, frp=10.0):
    return f"{lat},{lon},330,0.4,0.4,{day},0630,N,VIIRS,n,2.0NRT,290,{frp},D"


@pytest.mark.slow
def test_fiscal_year_brief_with_known_numbers(client, login, admin_headers):
    committee = login("committee", "committee_member")
    lead = login("lead", "investigator")
    officer = login("officer", "field_officer")
    # FY 2567 = 1 Oct 2023 - 30 Sep 2024. Den Chai (5405) near 17.95, 100.05; Rong Kwang (5402) near 18.2, 100.3.
    csv = firms(
        det(17.95, 100.05, "2023-10-05"),
        det(17.951, 100.051, "2024-03-01", 20),
        det(18.2, 100.3, "2024-03-02"),
        det(18.201, 100.301, "2024-03-09"),
        det(18.2, 100.31, "2024-09-30"),  # FY 2567: 5
        det(18.2, 100.3, "2023-03-03"),
        det(17.95, 100.05, "2023-09-30"),  # FY 2566: 2
        det(18.2, 100.3, "2024-10-01"),
    )  # FY 2568
    assert (
        client.post("/api/v1/admin/hotspots/firms", headers=admin_headers, files={"file": ("fy.csv", csv)}).status_code
        == 201
    )
    for kind, day in (
        ("wildfire", "2024-03-01T10:00:00"),
        ("wildfire", "2024-03-02T10:00:00"),
        ("encroachment", "2024-05-01T10:00:00"),
        ("burning", "2024-10-02T10:00:00"),
    ):
        assert (
            client.post(
                "/api/v1/incidents",
                headers=officer,
                json={"kind": kind, "observed_at": day, "location": {"lat": 18.2, "lon": 100.3}},
            ).status_code
            == 201
        )
    secret = "Permit sold by นายลับ"
    for received in ("2024-01-10", "2024-02-10"):
        c = client.post(
            "/api/v1/cases",
            headers=lead,
            json={
                "title": secret,
                "category": "budget_misuse",
                "received_on": received,
                "confidentiality": "confidential",
            },
        )
        assert c.status_code == 201
    client.post(
        f"/api/v1/cases/{c.json()['id']}/transitions",
        headers={**lead, "If-Match": 'W/"1"'},
        json={"to_stage": "preliminary_review", "reason": "enough to review"},
    )

    r = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    made = r.json()
    f = made["figures"]
    assert f["period"]["from"] == "2023-10-01" and f["period"]["to"] == "2024-09-30"
    assert f["hotspots"]["total"] == 5 and f["hotspots_previous_year"]["total"] == 2
    assert {d["code"]: d["n"] for d in f["hotspots"]["by_district"]} == {"5405": 2, "5402": 3}
    assert sum(f["hotspots"]["weekly"]) == 5 and f["hotspots"]["weekly"][0] == 1  # 5 Oct 2023 is in week 0
    assert {(i["kind"], i["count"]) for i in f["incidents"]} == {("wildfire", 2), ("encroachment", 1)}
    # both cases are confidential: a brief's audience (the committee) may not see them, so they are not counted
    assert sum(f["cases_by_stage"].values()) == 0 and f["cases_received"] == 0
    assert len(made["data_version"]) == 64

    page = client.get(f"/api/v1/briefs/{made['id']}", headers=committee)
    assert page.status_code == 200 and "ปีงบประมาณ 2567" in page.text and "Fiscal year 2567 BE" in page.text
    assert "1/10/2566" in page.text and "30/9/2567" in page.text  # the period in Buddhist Era dates
    assert secret not in page.text and "นายลับ" not in page.text  # counts only for cases
    assert page.text.count("data:image/png;base64,") == 2  # the map and the weekly chart
    pdf = client.get(f"/api/v1/briefs/{made['id']}.pdf", headers=committee)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Later data does not change a brief already made; a new brief shows it, with a new data version.
    client.post(
        "/api/v1/admin/hotspots/firms",
        headers=admin_headers,
        files={"file": ("late.csv", firms(det(18.2, 100.3, "2024-04-04")))},
    )
    again = client.get(f"/api/v1/briefs/{made['id']}", headers=committee).text
    total = re.search(r"รวม / Total</th><th class=\"n\">([\d,]+)", again).group(1)
    assert total == "5"
    newer = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567}).json()
    assert newer["figures"]["hotspots"]["total"] == 6 and newer["data_version"] != made["data_version"]
    quarter = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567, "quarter": 2}).json()
    assert quarter["figures"]["period"]["from"] == "2024-01-01" and quarter["figures"]["period"]["to"] == "2024-03-31"
    assert quarter["figures"]["hotspots"]["total"] == 3
    assert client.post("/api/v1/briefs", headers=officer, json={"fiscal_year_be": 2567}).status_code == 403
    assert (
        client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567, "quarter": 5}).status_code == 422
    )


@pytest.mark.slow
def test_cases_by_stage_are_the_period_s_cases_the_committee_may_see(client, login):
    """Cases by stage counted the whole register, confidential cases included; now the cases active during
    the brief's period that its audience (committee members) may see, with the rule stated in the brief."""
    committee = login("committee_c", "committee_member")
    lead = login("lead_c", "investigator")

    def case(received, confidentiality="internal", stage=None):
        c = client.post(
            "/api/v1/cases",
            headers=lead,
            json={
                "title": "case",
                "category": "budget_misuse",
                "received_on": received,
                "confidentiality": confidentiality,
            },
        )
        assert c.status_code == 201, c.text
        if stage:
            r = client.post(
                f"/api/v1/cases/{c.json()['id']}/transitions",
                headers={**lead, "If-Match": f'W/"{c.json()["version"]}"'},
                json={"to_stage": stage, "reason": "enough to review"},
            )
            assert r.status_code in (200, 201), r.text

    case("2023-05-01", stage="preliminary_review")  # before FY 2567, still open: active during it
    case("2024-02-10")  # received in FY 2567
    case("2024-03-10", stage="preliminary_review")  # received in FY 2567
    case("2024-03-11", "confidential")  # in FY 2567 but not for the committee
    case("2024-11-01")  # FY 2568: not this brief's
    r = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567})
    assert r.status_code == 201, r.text
    f = r.json()["figures"]
    assert f["cases_by_stage"]["received"] == 1 and f["cases_by_stage"]["preliminary_review"] == 2
    assert sum(f["cases_by_stage"].values()) == 3 and f["cases_received"] == 2
    page = client.get(f"/api/v1/briefs/{r.json()['id']}", headers=committee).text
    assert "Cases active during the period" in page and "confidential cases are not counted" in page
    # the brief was stored by the service's own role afterwards (the audience's role ended with its savepoint)
    quarter = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567, "quarter": 1}).json()
    assert quarter["figures"]["cases_by_stage"]["preliminary_review"] == 1 and quarter["figures"]["cases_received"] == 0


def test_brief_map_labels_every_district_in_thai_and_english(client, login):
    """District names are printed on the brief's map (no hovering on paper): Thai and English, with the count,
    on a white halo so that they read on the darkest class."""
    from geo_service.reports.brief import district_label

    committee = login("committee_l", "committee_member")
    f = client.post("/api/v1/briefs", headers=committee, json={"fiscal_year_be": 2567}).json()["figures"]
    assert len(f["districts"]) == 8
    labels = {code: district_label(f, code, 1234) for code in f["districts"]}
    assert labels["5405"] == f"{f['districts']['5405']['th']}\n{f['districts']['5405']['en']}\n1,234"
    assert all(names["th"] in labels[c] and names["en"] in labels[c] for c, names in f["districts"].items())
