"""Schemathesis over the service's whole OpenAPI document (and the OGC API's own), as every kind of caller.

The real app runs under uvicorn on a loopback port against a real PostGIS database holding a little of
everything (an incident with a photo, a case linked to it, FIRMS detections), so generated ids and names
sometimes land on real rows. Every operation of every method is fuzzed by each caller: anonymous, each
role signed in (partner included), and a field-restricted partner API key; a caller the route refuses gets a smaller budget (its
answer is the refusal, but the refusal must not be a 5xx either). Positive (schema-valid) and negative
(schema-violating) examples. Checks: ``not_a_server_error``, and ``response_schema_conformance`` where the
route declares a response schema.

The run is derandomized (Hypothesis derives each example from the test itself, no example database), so
CI makes the same requests every time; the budget below keeps the whole test near 2 minutes on 2 cores.
A failure lists every 5xx (or schema mismatch) with a curl command to reproduce it; a fix goes with a line
in tests/test_bad_input_corpus.py.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import ADMIN_TOKEN, PASSWORD
from tests.test_hotspots_api import DATA as FIRMS_DATA
from tests.test_role_matrix import POLICY, PUBLIC, SIGNED_IN

CALLERS = (
    "anonymous",
    "field_officer",
    "investigator",
    "committee_member",
    "partner",
    "partner_api_key",
    "administrator",
)
# Examples per (caller, operation) and generation mode (positive, negative); a third, positive pass with the
# seeded rows' ids in the path (when the path has any).
# GEO_FUZZ_SCALE multiplies the budget for a deeper run by hand (GEO_FUZZ_SCALE=5: 22,076 requests in 7.5 minutes with 6 callers).
SCALE = max(1, int(os.environ.get("GEO_FUZZ_SCALE", "1")))
ALLOWED_EXAMPLES = 8 * SCALE
REFUSED_EXAMPLES = 1 * SCALE
PUBLIC_EXAMPLES = 2 * SCALE  # a public route as a signed-in role other than the administrator (see _budget)
PINNED_EXAMPLES = 3 * SCALE
OGC_EXAMPLES = 4 * SCALE
FULL_ON_PUBLIC = {"anonymous", "partner_api_key", "administrator"}
CHECKS = [not_a_server_error, response_schema_conformance]
# Signing out revokes the caller's own token: it is fuzzed too, but as the last operation of each caller's run
# (the caller signs in again before its OGC run).
LAST = {("POST", "/api/v1/auth/logout")}


def _allowed(caller: str, method: str, path: str) -> bool:
    policy = POLICY[(method, path)]
    if policy == PUBLIC:
        return True
    if policy == SIGNED_IN:
        return caller != "anonymous"
    return ("partner" if caller == "partner_api_key" else caller) in policy


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


class Callers:
    """Fresh credentials for each caller, made when its run starts (an earlier run may have revoked a key id
    or changed a user the fuzzer happened to name)."""

    def __init__(self, base: str):
        self.base = base
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.n = 0

    def headers(self, caller: str) -> dict:
        self.n += 1
        if caller == "anonymous":
            return {}
        if caller == "administrator":
            return dict(self.admin)
        if caller == "partner_api_key":
            r = requests.post(
                f"{self.base}/api/v1/admin/api-keys",
                headers=self.admin,
                timeout=30,
                json={
                    "name": f"fuzz partner {self.n}",
                    "scopes": ["districts", "hotspots", "incidents:kind,observed_at,district_code"],
                },
            )
            assert r.status_code == 201, r.text
            return {"X-API-Key": r.json()["key"]}
        return self.login(f"fuzz_{caller}_{self.n}", caller)

    def login(self, username: str, role: str) -> dict:
        r = requests.post(
            f"{self.base}/api/v1/admin/users",
            headers=self.admin,
            timeout=30,
            json={"username": username, "password": PASSWORD, "roles": [role], "display_name": username},
        )
        assert r.status_code == 201, r.text
        r = requests.post(
            f"{self.base}/api/v1/auth/token", timeout=30, data={"username": username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _seed(base: str, callers: Callers) -> dict:
    """A little of everything, and the path values that reach it (the "pinned" pass uses them, so that fuzzed
    bodies and queries meet real rows, not only 404s)."""
    officer = callers.login("fuzz_seed_officer", "field_officer")
    admin = callers.admin
    r = requests.post(
        f"{base}/api/v1/incidents",
        headers=officer,
        timeout=30,
        json={"kind": "burning", "location": {"lat": 18.2, "lon": 100.3}, "description": "seed"},
    )
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    r = requests.post(
        f"{base}/api/v1/incidents/{incident}/photos",
        headers=officer,
        timeout=30,
        files=[("files", ("p.jpg", _jpeg(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    photo = r.json()[0]["id"]
    r = requests.post(
        f"{base}/api/v1/cases", headers=admin, timeout=30, json={"title": "Seed case", "category": "other"}
    )
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    r = requests.post(
        f"{base}/api/v1/cases/{case}/links",
        headers=admin,
        timeout=30,
        json={"target_type": "incident", "target_id": str(incident), "reason": "seed"},
    )
    assert r.status_code == 201, r.text
    with open(FIRMS_DATA / "viirs_snpp_nrt.csv", "rb") as f:
        r = requests.post(
            f"{base}/api/v1/admin/hotspots/firms",
            headers=admin,
            timeout=60,
            files={"file": ("viirs.csv", f, "text/csv")},
        )
    assert r.status_code == 201, r.text
    # key_id is never pinned: the administrator's run would revoke the partner key in use
    return {
        "incident_id": incident,
        "photo_id": photo,
        "case_id": case,
        "code": "5406",
        "name": "incidents",
        "feature_id": str(incident),
        "featureId": str(incident),
        "username": "fuzz_seed_officer",
    }


def _budget(caller: str, method: str, path: str) -> tuple[int, int]:
    """(examples per generation mode, examples of the pinned pass) for this caller at this operation."""
    if not _allowed(caller, method, path):
        return REFUSED_EXAMPLES, 0
    if POLICY[(method, path)] == PUBLIC and caller not in FULL_ON_PUBLIC:
        # public routes answer every role alike, except the collections a role may see (the pinned pass)
        return PUBLIC_EXAMPLES, PINNED_EXAMPLES
    return ALLOWED_EXAMPLES, PINNED_EXAMPLES


class Run:
    def __init__(self, base: str):
        self.base = base
        self.requests = 0
        self.statuses: Counter = Counter()
        self.failures: dict[str, str] = {}  # one per (caller, operation, check)
        self.seconds: Counter = Counter()  # per operation, over every caller
        self.call_seconds: Counter = Counter()  # of which waiting for the server

    def fuzz(
        self,
        operation,
        headers: dict,
        caller: str,
        examples: int,
        session: requests.Session,
        pinned: int = 0,
        pins: dict | None = None,
    ) -> None:
        t0 = time.monotonic()
        names = {p.name for p in operation.path_parameters}
        pins = {k: v for k, v in (pins or {}).items() if k in names}
        passes = [(schemathesis.GenerationMode.POSITIVE, examples, None)]
        if _can_be_invalid(operation):
            passes.append((schemathesis.GenerationMode.NEGATIVE, examples, None))
        if pins and pinned:
            passes.append((schemathesis.GenerationMode.POSITIVE, pinned, pins))
        for mode, n, path_parameters in passes:

            @settings(
                max_examples=n,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def one(case):
                self.requests += 1
                c0 = time.monotonic()
                try:
                    response = case.call(base_url=self.base, session=session, headers=headers, timeout=60)
                    self.call_seconds[operation.label] += time.monotonic() - c0
                except requests.RequestException as exc:  # the server closed the connection: count it as a 5xx
                    self.failures.setdefault(
                        f"{caller} {operation.label} transport",
                        (f"{exc.__class__.__name__}: {exc}\n{case.as_curl_command(headers=headers)[:3000]}"),
                    )
                    return
                self.statuses[response.status_code // 100] += 1
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (Exception, BaseExceptionGroup) as exc:
                    kind = "5xx" if response.status_code >= 500 else "schema"
                    self.failures.setdefault(
                        f"{caller} {operation.label} {kind}",
                        (
                            f"{response.status_code}: {str(exc).split('Reproduce with')[0][:1500]}\n"
                            f"{case.as_curl_command(headers=headers)[:3000]}"
                        ),
                    )

            one()
        self.seconds[operation.label] += time.monotonic() - t0


def _can_be_invalid(operation) -> bool:
    """Whether a schema-violating request exists: not for an operation whose only inputs are unconstrained
    string path segments (Hypothesis would search at length and then give up)."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return True
    for p in raw.get("parameters", []):
        if "$ref" in p or p.get("in") != "path":
            return True
        schema = p.get("schema", {})
        if schema.get("type") != "string" or set(schema) - {"type", "title", "description"}:
            return True
    return False


def _operations(schema):
    ops = [r.ok() for r in schema.get_all_operations()]
    return sorted(ops, key=lambda op: ((op.method.upper(), op.path) in LAST, op.method, op.path))


def test_redirects_document_no_json_body(ref_client):
    """Sign-in and sign-out answer 303 with an empty body; the document said application/json (found by the
    fuzzer's response-schema check)."""
    doc = ref_client.get("/openapi.json").json()
    redirects = {
        (m.upper(), p): r
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        for code, r in op["responses"].items()
        if code.startswith("3")
    }
    assert {("POST", "/api/v1/auth/session"), ("POST", "/api/v1/auth/logout")} <= set(redirects)
    assert all("content" not in r for r in redirects.values()), redirects


@pytest.mark.fuzz
@pytest.mark.slow
def test_fuzz_every_operation_as_every_caller(db_url, live_server, capsys):
    started = time.monotonic()
    base = live_server(db_url)
    callers = Callers(base)
    pins = _seed(base, callers)
    run = Run(base)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = _operations(schema)
    assert len(operations) >= 80
    timings = {}
    for caller in CALLERS:
        t0 = time.monotonic()
        headers = callers.headers(caller)
        with requests.Session() as session:
            for op in operations:
                examples, pinned = _budget(caller, op.method.upper(), op.path)
                run.fuzz(op, headers, caller, examples, session, pinned, pins)
            # The OGC API's own document lists the collections this caller may see, with each collection's
            # queryables as typed parameters: fuzzed too, with a fresh token (logout revoked the last one).
            headers = callers.headers(caller)
            ogc = schemathesis.openapi.from_url(f"{base}/ogc/api", headers=headers)
            for op in _operations(ogc):
                run.fuzz(op, headers, caller, OGC_EXAMPLES, session, PINNED_EXAMPLES, pins)
        timings[caller] = round(time.monotonic() - t0, 1)
    elapsed = time.monotonic() - started
    slowest = [(label, round(s, 1), round(run.call_seconds[label], 1)) for label, s in run.seconds.most_common(8)]
    with capsys.disabled():
        print(
            f"\nfuzz: {run.requests} requests in {elapsed:.0f} s over {len(operations)} operations x "
            f"{len(CALLERS)} callers (+ the OGC API document); statuses {dict(sorted(run.statuses.items()))}; "
            f"seconds per caller {timings}; slowest operations (seconds in all, of which the server's) {slowest}"
        )
    # the harness itself: it made its requests, and some of them reached real rows
    assert run.requests >= 3000 * SCALE and run.statuses[2] >= 300 * SCALE, (run.requests, run.statuses)
    assert run.failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in sorted(run.failures.items()))
