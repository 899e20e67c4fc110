"""Backups you have restored: `geo-service db backup` / `db restore` as an operator runs them (real subprocesses,
real PostGIS): data with photos, an attachment, a raster and audit entries is backed up, destroyed, restored and
verified (audit chain, row counts, every hash); a damaged archive is refused before anything is touched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from geo_service import audit
from geo_service.db.engine import make_engine, make_sessionmaker
from tests.conftest import cli_env, run_cli
from tests.samples import post_fire_mask


def cli(tmp_path, url, *args):
    return run_cli(cli_env(url, tmp_path), "db", *args, timeout=300)


def jpeg(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def row_counts(url) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as c:
        tables = (
            c.execute(
                text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                    "AND table_type = 'BASE TABLE'"
                )
            )
            .scalars()
            .all()
        )
        counts = {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    engine.dispose()
    return counts


def make_data(client, login, admin_headers, tmp_path) -> dict:
    """Incidents with photos, a registered raster, and a case with an attachment (each leaves audit entries)."""
    officer = login("officer1", "field_officer")
    lead = login("lead", "investigator")
    photos = {}
    for i, color in enumerate([(200, 30, 30), (30, 200, 30)]):
        inc = client.post(
            "/api/v1/incidents",
            headers=officer,
            json={
                "kind": "burning",
                "location": {"lat": 18.145 + i / 100, "lon": 100.141},
                "observed_at": "2024-03-15T14:00:00+07:00",
            },
        )
        assert inc.status_code == 201, inc.text
        data = jpeg(color)
        r = client.post(
            f"/api/v1/incidents/{inc.json()['id']}/photos",
            headers=officer,
            files=[("files", (f"p{i}.jpg", data, "image/jpeg"))],
        )
        assert r.status_code == 201, r.text
        photos[r.json()[0]["id"]] = hashlib.sha256(data).hexdigest()
    raster = post_fire_mask(client, admin_headers, tmp_path / "upload-mask.tif", 100.2157, 18.4695)
    case = client.post(
        "/api/v1/cases",
        headers=lead,
        json={
            "title": "Permits inside Mae Yom reserve",
            "summary": "Complaint",
            "category": "land_documents_in_reserve",
            "received_on": "2024-11-05",
        },
    )
    assert case.status_code == 201, case.text
    doc = "หนังสือร้องเรียน / complaint letter\n".encode() * 100
    r = client.post(
        f"/api/v1/cases/{case.json()['id']}/attachments",
        headers=lead,
        files={"file": ("letter.txt", doc, "text/plain")},
    )
    assert r.status_code == 201, r.text
    return {
        "photos": photos,
        "raster": raster,
        "attachment_sha": hashlib.sha256(doc).hexdigest(),
        "officer": officer,
        "lead": lead,
        "case_id": case.json()["id"],
    }


def audit_result(url):
    engine = make_engine(url, pool_size=1)
    with make_sessionmaker(engine)() as s:
        result = audit.verify(s)
    engine.dispose()
    return result


@pytest.mark.slow
def test_backup_destroy_restore_verify(client, login, admin_headers, db_url, pg_cluster, tmp_path):
    made = make_data(client, login, admin_headers, tmp_path)
    before = row_counts(db_url)
    audit_before = audit_result(db_url)
    assert audit_before.ok and audit_before.entries >= 5
    raster_file = tmp_path / "rasters" / os.path.basename(made["raster"]["file_path"])
    raster_sha = hashlib.sha256(raster_file.read_bytes()).hexdigest()

    archive = tmp_path / "backup.tar"
    r = cli(tmp_path, db_url, "backup", str(archive))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "2 photos and 1 attachments (in the dump), 1 raster files" in r.stdout
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert sorted(tar.getnames()) == sorted(["database.dump", "manifest.json", f"files/rasters/{raster_file.name}"])
    assert manifest["schema_revision"] and manifest["service_version"] and manifest["created_at"]
    assert manifest["row_counts"] == {t: n for t, n in before.items() if t != "spatial_ref_sys"}  # PostGIS's own
    assert manifest["files"][0]["sha256"] == raster_sha and len(manifest["database"]["sha256"]) == 64
    assert {p["id"]: p["sha256"] for p in manifest["stored_in_database"]["incident_photos"]} == made["photos"]
    assert [a["sha256"] for a in manifest["stored_in_database"]["case_attachments"]] == [made["attachment_sha"]]
    assert manifest["audit"]["entries"] == audit_before.entries and manifest["audit"]["head_hash"] == audit_before.head
    assert cli(tmp_path, db_url, "restore", "--check-only", str(archive)).returncode == 0

    # A database with data in it is not overwritten without --force.
    r = cli(tmp_path, db_url, "restore", str(archive))
    assert r.returncode == 1 and "is not empty" in r.stderr and "Traceback" not in r.stderr
    assert row_counts(db_url) == before

    # Destroy: the database and the raster files are gone.
    pg_cluster.drop_database(db_url.database)
    shutil.rmtree(tmp_path / "rasters")

    r = cli(tmp_path, db_url, "restore", str(archive))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "verified: audit trail intact" in r.stdout
    assert row_counts(db_url) == {**before, "audit_log": before["audit_log"] + 1}  # + the restore entry
    restored = audit_result(db_url)
    assert restored.ok and restored.entries == audit_before.entries + 1  # the restore itself, after the backup's head
    engine = create_engine(db_url)
    with engine.connect() as c:
        last = c.execute(
            text("SELECT action, entity_type, prev_hash, actor, after FROM audit_log ORDER BY id DESC LIMIT 1")
        ).one()
    engine.dispose()
    assert (last.action, last.entity_type, last.prev_hash) == ("restore", "database", audit_before.head)
    assert last.actor.startswith("cli:") and last.after["dump_sha256"] == manifest["database"]["sha256"]
    assert hashlib.sha256(raster_file.read_bytes()).hexdigest() == raster_sha
    # The service reads the restored data: every photo byte for byte, the attachment, the raster's statistics.
    for photo_id, sha in made["photos"].items():
        got = client.get(f"/api/v1/photos/{photo_id}", headers=made["officer"])
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha
    case = client.get(f"/api/v1/cases/{made['case_id']}", headers=made["lead"]).json()
    att = client.get(case["attachments"][0]["url"], headers=made["lead"])
    assert hashlib.sha256(att.content).hexdigest() == made["attachment_sha"]
    assert client.get(f"/api/v1/rasters/{made['raster']['raster_id']}").status_code == 200

    # --force drops and recreates a database in use, then restores and verifies again; here onto a machine whose
    # data folder is elsewhere: the raster goes to its raster store and the row follows it.
    moved = tmp_path / "elsewhere"
    r = cli(moved, db_url, "restore", "--force", str(archive))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "1 rows pointed at the new raster folder" in r.stdout
    assert row_counts(db_url) == {**before, "audit_log": before["audit_log"] + 1} and audit_result(db_url).ok
    engine = create_engine(db_url)
    with engine.connect() as c:
        path = c.execute(text("SELECT file_path FROM hotspot_rasters")).scalar()
    engine.dispose()
    assert path == str(moved / "rasters" / raster_file.name)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == raster_sha


@pytest.mark.slow
def test_damaged_archive_is_refused_before_anything_is_touched(
    client, login, admin_headers, db_url, pg_cluster, tmp_path
):
    make_data(client, login, admin_headers, tmp_path)
    archive = tmp_path / "backup.tar"
    assert cli(tmp_path, db_url, "backup", str(archive)).returncode == 0
    r = cli(tmp_path, db_url, "backup", str(archive))  # never overwrites an archive
    assert r.returncode == 1 and "exists already" in r.stderr

    with tarfile.open(archive) as tar:
        member = tar.getmember("database.dump")
        offset = member.offset_data + member.size // 2
    damaged = tmp_path / "damaged.tar"
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0x01  # one bit flipped inside the dump
    damaged.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[:offset])
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not an archive")

    new_db = db_url.set(database=db_url.database + "_restored")  # does not exist: a restore would create it
    shutil.rmtree(tmp_path / "rasters")
    for bad, message in (
        (damaged, "path: database.dump, problem: SHA-256 differs from the manifest"),
        (truncated, "is damaged"),
        (not_a_backup, "is damaged"),
    ):
        r = cli(tmp_path, new_db, "restore", str(bad))
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert cli(tmp_path, new_db, "restore", "--check-only", str(damaged)).returncode == 1
    # A sound archive, but a database user who may not create the database: a clear refusal, no traceback.
    engine = create_engine(pg_cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("DROP ROLE IF EXISTS restorer"))
        c.execute(text("CREATE ROLE restorer LOGIN NOCREATEDB PASSWORD 'restorer-password'"))
    r = cli(tmp_path, new_db.set(username="restorer", password="restorer-password"), "restore", str(archive))
    assert r.returncode == 1 and "the database refused: permission denied to create database" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    # Nothing was touched: no database created, no raster file written.
    with engine.connect() as c:
        c.execute(text("DROP ROLE restorer"))
        assert (
            c.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": new_db.database}).scalar() == 0
        )
    engine.dispose()
    assert not (tmp_path / "rasters").exists()


def test_hostile_archives_are_refused_without_writing_outside_staging(tmp_path):
    """No database needed: a path-escaping member, a link, or a manifest without its parts is refused."""
    from geo_service.db.backup import BackupError, check_archive

    def archive(name, manifest, members):
        path = tmp_path / name
        with tarfile.open(path, "w") as tar:
            for member_name, data in members:
                info = tarfile.TarInfo(member_name)
                if data is None:
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                else:
                    info.size = len(data)
                tar.addfile(info, None if data is None else io.BytesIO(data))
            body = json.dumps(manifest).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        return path

    dump = b"PGDMP fake"
    good = {
        "format": "geo_service backup",
        "format_version": 1,
        "database": {"path": "database.dump", "sha256": hashlib.sha256(dump).hexdigest(), "size": len(dump)},
    }
    escape = "files/rasters/../../escaped.tif"
    cases = {
        "escape.tar": (
            {**good, "files": [{"path": escape, "sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}]},
            [("database.dump", dump), (escape, b"x")],
            "not listed in the manifest",
        ),
        "link.tar": (
            {**good, "files": [{"path": "files/rasters/a.tif", "sha256": "0" * 64, "size": 0}]},
            [("database.dump", dump), ("files/rasters/a.tif", None)],
            "not listed in the manifest",
        ),
        "incomplete.tar": (
            {k: v for k, v in good.items() if k != "database"},
            [("database.dump", dump)],
            "incomplete or malformed",
        ),
        "other.tar": ({"format": "something else"}, [], "is not a geo_service backup"),
    }
    staging = tmp_path / "staging" / "inner"
    staging.mkdir(parents=True)
    for name, (manifest, members, message) in cases.items():
        with pytest.raises(BackupError) as err:
            check_archive(archive(name, manifest, members), staging)
        assert message in str(err.value) + str(err.value.details), name
    assert not (tmp_path / "staging" / "escaped.tif").exists() and not (tmp_path / "escaped.tif").exists()
    assert check_archive(archive("ok.tar", good, [("database.dump", dump)]), None).manifest["format_version"] == 1
