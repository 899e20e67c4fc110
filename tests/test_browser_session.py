"""Pages opened in a plain browser: sign-in page, session cookie for reading only, safe redirects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.conftest import PASSWORD

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_sign_in_from_a_browser_and_read_pages_with_the_cookie(client, login):
    login("committee", "committee_member")
    r = client.get("/maps/overview", params={"fiscal_year_be": 2567}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/signin" and parse_qs(target.query)["next"] == ["/maps/overview?fiscal_year_be=2567"]
    assert client.get("/maps/overview").status_code == 401  # API clients still get the JSON error

    page = client.get("/signin", params={"next": "/maps/overview?fiscal_year_be=2567"})
    assert page.status_code == 200 and 'action="/api/v1/auth/session"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    wrong = client.post(
        "/api/v1/auth/session",
        data={"username": "committee", "password": "nope-nope-nope", "next": "/maps/overview"},
        follow_redirects=False,
    )
    assert wrong.status_code == 303 and "failed=1" in wrong.headers["location"]
    assert "geo_session" not in client.cookies

    ok = client.post(
        "/api/v1/auth/session",
        follow_redirects=False,
        data={"username": "committee", "password": PASSWORD, "next": "/maps/overview?fiscal_year_be=2567"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/maps/overview?fiscal_year_be=2567"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/maps/overview", params={"fiscal_year_be": 2567}, headers=HTML).status_code == 200
    assert client.get("/api/v1/briefs").status_code == 200
    # The cookie reads; it never changes anything (no cross-site request forgery possible).
    assert client.post("/api/v1/briefs", json={"fiscal_year_be": 2567}).status_code == 401

    out = client.post("/api/v1/auth/logout", follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    assert client.get("/api/v1/briefs").status_code == 401


def test_redirects_stay_on_this_service(client, login):
    login("committee", "committee_member")
    for bad in ("//evil.example/x", "https://evil.example", "\\\\evil.example", "javascript:alert(1)"):
        r = client.post(
            "/api/v1/auth/session",
            follow_redirects=False,
            data={"username": "committee", "password": PASSWORD, "next": bad},
        )
        assert r.headers["location"] == "/maps/overview", bad
    page = client.get("/signin", params={"next": '"><script>alert(1)</script>'})
    assert "<script>alert(1)</script>" not in page.text
