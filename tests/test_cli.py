"""The command line on the embedded default: a project-local cluster started, migrated, loaded, stopped,
and `serve` answering on HTTP, exactly as a new user runs it (real subprocesses, real PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from geo_service.db.local_pg import free_port

CLI = [sys.executable, "-m", "geo_service.cli"]


@pytest.fixture
def project_env():
    """An empty data folder and free ports, as on a first run."""
    root = Path(tempfile.mkdtemp(prefix="geo_service_cli_"))
    os.chmod(root, 0o755)
    env = {
        **os.environ,
        "COLUMNS": "200",
        "GEO_SERVICE_DATA_DIR": str(root / "var"),
        "GEO_SERVICE_DB_PORT": str(free_port()),
    }
    env.pop("GEO_SERVICE_DATABASE_URL", None)
    yield env
    subprocess.run([*CLI, "db", "stop"], env=env, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def run(env, *args, check=True):
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.mark.slow
def test_embedded_database_lifecycle_and_layers(project_env, tmp_path):
    assert run(project_env, "db", "status", check=False).returncode == 3  # not created yet
    demo = run(project_env, "demo")
    assert "Created a PostgreSQL cluster" in demo.stderr
    assert "district: 8" in demo.stdout and "subdistrict: 78" in demo.stdout
    assert "running" in run(project_env, "db", "status").stderr
    listing = run(project_env, "layers", "list").stdout
    assert "phrae-districts" in listing and "illustrative" in listing

    # Loading a file: a refusal exits 1 with the reason; a dry run stores nothing.
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1",'
        '"name_th":"x"},"geometry":{"type":"Polygon","coordinates":[[[105.8,21],[105.9,21],'
        "[105.9,21.1],[105.8,21]]]}}]}"
    )
    refused = run(
        project_env,
        "layers",
        "load",
        str(bad),
        "--type",
        "subdistrict",
        "--name",
        "x",
        "--version",
        "1",
        "--source",
        "s",
        "--licence",
        "l",
        "--attribution",
        "a",
        check=False,
    )
    assert refused.returncode == 1 and "outside Thailand" in refused.stderr
    good = Path(__file__).parents[1] / "layers/phrae/phrae_amphoe_hdx_codab.geojson"
    dry = run(
        project_env,
        "layers",
        "load",
        str(good),
        "--type",
        "district",
        "--name",
        "d",
        "--version",
        "2",
        "--source",
        "s",
        "--licence",
        "l",
        "--attribution",
        "a",
        "--field",
        "code=amp_code",
        "--field",
        "name_th=ADM2_TH",
        "--dry-run",
    )
    assert "dry run" in dry.stdout and "│ 8 " in dry.stdout
    assert "│ d " not in run(project_env, "layers", "list").stdout

    # Down and up again: downgrade base empties the schema, migrate restores it.
    assert "revision None" in run(project_env, "db", "downgrade", "base").stderr
    assert "revision None" not in run(project_env, "db", "migrate").stderr
    assert "PostgreSQL stopped" in run(project_env, "db", "stop").stderr
    assert run(project_env, "db", "status", check=False).returncode == 3


@pytest.mark.slow
def test_serve_starts_its_own_database_and_answers(project_env):
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if r.status_code == 200:
                    body = r.json()
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert body["data"]["admin_areas"] == 87  # first run loaded the bundled layers
        districts = httpx.get(f"http://127.0.0.1:{port}/api/v1/districts", params={"simplify": 50}).json()
        assert len(districts["features"]) == 8
        token = Path(project_env["GEO_SERVICE_DATA_DIR"]) / "admin_token"
        assert token.exists() and oct(token.stat().st_mode & 0o777) == "0o600"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "Embedded PostgreSQL stopped" in out
    assert run(project_env, "db", "status", check=False).returncode == 3


@pytest.mark.slow
def test_users_and_incident_import_commands(project_env, tmp_path):
    env = {**project_env, "GEO_SERVICE_NEW_PASSWORD": "a long enough password"}
    run(project_env, "layers", "load-bundled")
    created = run(env, "users", "add", "ranger1", "--role", "field_officer", "--display-name", "Ranger One")
    assert "created ranger1 (field_officer)" in created.stdout
    changed = run(project_env, "users", "set-roles", "ranger1", "--role", "field_officer", "--role", "committee_member")
    assert "ranger1: committee_member, field_officer; active" in changed.stdout
    assert "deactivated" in run(project_env, "users", "deactivate", "ranger1").stdout
    listed = run(project_env, "users", "list").stdout
    assert "ranger1" in listed and "Ranger One" in listed and " no " in listed
    assert "; active" in run(project_env, "users", "reactivate", "ranger1").stdout
    assert run(project_env, "users", "deactivate", "nobody", check=False).returncode == 1
    moved = run(project_env, "users", "set-provinces", "ranger1", "--province", "TH54")
    assert "ranger1: committee_member, field_officer; active; in 54" in moved.stdout
    bad = run(project_env, "users", "set-provinces", "ranger1", "--province", "99", check=False)
    assert bad.returncode == 1 and "Unknown province code(s): 99" in bad.stdout + bad.stderr
    csv_file = tmp_path / "field.csv"
    csv_file.write_text('kind,location,description\nwildfire,"18.2, 100.3",smoke\nwildfire,"100.3, 18.2",x\n')
    dry = run(project_env, "incidents", "import", str(csv_file), check=False)
    assert dry.returncode == 1 and "Did you mean" in dry.stdout and "nothing stored" in dry.stderr
    csv_file.write_text('kind,location,description\nwildfire,"18.2, 100.3",smoke\n')
    assert "dry run" in run(project_env, "incidents", "import", str(csv_file)).stderr
    assert "stored" in run(project_env, "incidents", "import", str(csv_file), "--commit").stderr
    assert "audit trail intact" in run(project_env, "audit", "verify").stdout
