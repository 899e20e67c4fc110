"""Schemathesis over the service's whole OpenAPI document (and the OGC API's own), as every kind of caller.

The real app runs under uvicorn on a loopback port against a real PostGIS database holding a little of
everything (an incident with a photo, a case linked to it, FIRMS detections), so generated ids and names
sometimes land on real rows. Every operation of every method is fuzzed by each caller: anonymous, each
role signed in, and a field-restricted partner API key; a caller the route refuses gets a smaller budget (its
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
import re
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import ADMIN_TOKEN, PASSWORD
from tests.test_hotspots_api import DATA as FIRMS_DATA
from tests.test_role_matrix import POLICY, PUBLIC, SIGNED_IN

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

CALLERS = ("anonymous", "field_officer", "investigator", "committee_member", "partner_api_key", "administrator")
# Examples per (caller, operation) and generation mode (positive, negative).
ALLOWED_EXAMPLES = 10
REFUSED_EXAMPLES = 2
OGC_EXAMPLES = 10
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
            r = requests.post(f"{self.base}/api/v1/admin/api-keys", headers=self.admin, timeout=30, json={
                "name": f"fuzz partner {self.n}",
                "scopes": ["districts", "hotspots", "incidents:kind,observed_at,district_code"]})
            assert r.status_code == 201, r.text
            return {"X-API-Key": r.json()["key"]}
        return self.login(f"fuzz_{caller}_{self.n}", caller)

    def login(self, username: str, role: str) -> dict:
        r = requests.post(f"{self.base}/api/v1/admin/users", headers=self.admin, timeout=30, json={
            "username": username, "password": PASSWORD, "roles": [role], "display_name": username})
        assert r.status_code == 201, r.text
        r = requests.post(f"{self.base}/api/v1/auth/token", timeout=30,
                          data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _seed(base: str, callers: Callers) -> None:
    """A little of everything, so that small generated ids (1, 2) reach real rows."""
    officer = callers.login("fuzz_seed_officer", "field_officer")
    admin = callers.admin
    r = requests.post(f"{base}/api/v1/incidents", headers=officer, timeout=30, json={
        "kind": "burning", "location": {"lat": 18.2, "lon": 100.3}, "description": "seed"})
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    r = requests.post(f"{base}/api/v1/incidents/{incident}/photos", headers=officer, timeout=30,
                      files=[("files", ("p.jpg", _jpeg(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    r = requests.post(f"{base}/api/v1/cases", headers=admin, timeout=30,
                      json={"title": "Seed case", "category": "other"})
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    r = requests.post(f"{base}/api/v1/cases/{case}/links", headers=admin, timeout=30,
                      json={"target_type": "incident", "target_id": str(incident), "reason": "seed"})
    assert r.status_code == 201, r.text
    with open(FIRMS_DATA / "viirs_snpp_nrt.csv", "rb") as f:
        r = requests.post(f"{base}/api/v1/admin/hotspots/firms", headers=admin, timeout=60,
                          files={"file": ("viirs.csv", f, "text/csv")})
    assert r.status_code == 201, r.text


class Run:
    def __init__(self, base: str):
        self.base = base
        self.requests = 0
        self.statuses: Counter = Counter()
        self.failures: dict[str, str] = {}  # one per (caller, operation, check)
        self.seconds: Counter = Counter()  # per operation, over every caller

    def fuzz(self, operation, headers: dict, caller: str, examples: int, session: requests.Session) -> None:
        t0 = time.monotonic()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def one(case):
                self.requests += 1
                try:
                    response = case.call(base_url=self.base, session=session, headers=headers, timeout=60)
                except requests.RequestException as exc:  # the server closed the connection: count it as a 5xx
                    self.failures.setdefault(f"{caller} {operation.label} transport",
                                             f"{exc.__class__.__name__}: {exc}\n{case.as_curl_command(headers=headers)}")
                    return
                self.statuses[response.status_code // 100] += 1
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure is collected
                    kind = "5xx" if response.status_code >= 500 else "schema"
                    self.failures.setdefault(f"{caller} {operation.label} {kind}",
                                             f"{response.status_code}: {str(exc)[:1500]}")

            try:
                one()
            except Unsatisfiable:
                # nothing to make invalid: an operation without parameters or body has no negative examples
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
        self.seconds[operation.label] += time.monotonic() - t0


def _operations(schema):
    ops = [r.ok() for r in schema.get_all_operations()]
    return sorted(ops, key=lambda op: ((op.method.upper(), op.path) in LAST, op.method, op.path))


def test_fuzz_every_operation_as_every_caller(db_url, live_server, capsys):
    started = time.monotonic()
    base = live_server(db_url)
    callers = Callers(base)
    _seed(base, callers)
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
                allowed = _allowed(caller, op.method.upper(), op.path)
                run.fuzz(op, headers, caller, ALLOWED_EXAMPLES if allowed else REFUSED_EXAMPLES, session)
            # The OGC API's own document lists the collections this caller may see, with each collection's
            # queryables as typed parameters: fuzzed too, with a fresh token (logout revoked the last one).
            headers = callers.headers(caller)
            ogc = schemathesis.openapi.from_url(f"{base}/ogc/api", headers=headers)
            for op in _operations(ogc):
                run.fuzz(op, headers, caller, OGC_EXAMPLES, session)
        timings[caller] = round(time.monotonic() - t0, 1)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nfuzz: {run.requests} requests in {elapsed:.0f} s over {len(operations)} operations x "
              f"{len(CALLERS)} callers (+ the OGC API document); statuses {dict(sorted(run.statuses.items()))}; "
              f"seconds per caller {timings}; slowest operations (s) "
              f"{[(label, round(s, 1)) for label, s in run.seconds.most_common(12)]}")
    assert run.failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in sorted(run.failures.items()))
