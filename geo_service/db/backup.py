"""Backups: the database (pg_dump, custom format) and the raster files, in one tar with a manifest of SHA-256s.

An archive holds ``database.dump`` (taken in one snapshot), ``files/rasters/<name>`` (every COG a
``hotspot_rasters`` row of that snapshot points at) and ``manifest.json``: the SHA-256 and size of the dump and
of every file, the schema revision, the time, the service and PostgreSQL versions, the row count of every
table, the audit trail's head, and the SHA-256 of every photo and case attachment (those are stored in
PostgreSQL, so they travel inside the dump and are checked after a restore).

Restore checks every hash of the archive before it touches anything, restores into an empty database in
one transaction (``--force`` drops and recreates a non-empty one), puts the raster files back, then
verifies the audit chain, the row counts, and every photo, attachment and file hash against the manifest.

The client programs are those of the server's major version (``/usr/lib/postgresql/<major>/bin``), run as
this process's user over TCP; the password goes through the environment, never the command line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy.engine import URL, make_url

from geo_service import __version__, audit, scratch
from geo_service.cases.access import APP_ROLE
from geo_service.db.engine import make_engine, make_sessionmaker
from geo_service.db.migrate import alembic_config
from geo_service.errors import GeoServiceError
from geo_service.hashing import sha256_file
from geo_service.hotspots.rasters import raster_files, relocate_raster_files
from geo_service.settings import Settings

FORMAT = "geo_service backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
RASTERS = "files/rasters"
BLOCK = 1 << 22

Progress = Callable[[str, int, int], None]  # (what, done, total) in bytes


class BackupError(GeoServiceError):
    """A backup or restore that cannot go on (the message says why)."""

    code = "backup"


def _noop(what: str, done: int, total: int) -> None:
    pass


@contextmanager
def _database_errors():
    """A refusal by the server (permissions, a missing extension, a lost connection) as a clear BackupError."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (psycopg.Error, DBAPIError) as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackupError(f"the database refused: {first}") from None


# --- connecting: libpq environment and the server's own client programs -------------------------------
def _url(url: URL | str) -> URL:
    return make_url(url) if isinstance(url, str) else url


def _database_name(url: URL | str) -> str:
    name = _url(url).database
    if not name:
        raise BackupError("the database URL names no database")
    return name


def _libpq_env(url: URL | str, database: str | None = None) -> dict[str, str]:
    """The libpq environment for ``url`` (password included: it must not appear in a command line)."""
    u = _url(url)
    env = {
        **os.environ,
        "PGHOST": u.host or "127.0.0.1",
        "PGPORT": str(u.port or 5432),
        "PGDATABASE": database or u.database or "postgres",
        "PGCONNECT_TIMEOUT": "15",
    }
    if u.username:
        env["PGUSER"] = u.username
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    if "sslmode" in u.query:
        env["PGSSLMODE"] = str(u.query["sslmode"])
    return env


def _connect(url: URL | str, database: str | None = None, **kw):
    import psycopg

    u = _url(url)
    try:
        return psycopg.connect(
            host=u.host or "127.0.0.1",
            port=u.port or 5432,
            user=u.username,
            password=None if u.password is None else str(u.password),
            dbname=database or u.database,
            connect_timeout=15,
            **kw,
        )
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"cannot connect to database {database or u.database!r} on {u.host}:{u.port}: "
            f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}"
        ) from None


def client_program(conn, name: str) -> Path:
    """``pg_dump``/``pg_restore`` of the server's major version (a dump made by a newer one does not restore)."""
    major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        out = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout
        digits = "".join(c if c.isdigit() else " " for c in out).split()
        if digits and int(digits[0]) >= major:
            return Path(found)
    raise BackupError(f"{name} for PostgreSQL {major} is not installed (apt-get install postgresql-client-{major})")


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd="/", check=False)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BackupError(f"{Path(cmd[0]).name} failed: {message}")


# --- hashing while copying ----------------------------------------------------------------------------
class _HashingReader(io.RawIOBase):
    """A file read through a SHA-256 (and a progress callback)."""

    def __init__(self, f, progress: Callable[[int], None]):
        self.f, self.h, self.progress, self.size = f, hashlib.sha256(), progress, 0

    def readable(self) -> bool:
        """Always readable (a file object for tarfile)."""
        return True

    def read(self, n: int = -1) -> bytes:
        """Read, hashing and counting what passes."""
        data = self.f.read(n)
        self.h.update(data)
        self.size += len(data)
        self.progress(len(data))
        return data


def _copy_hashing(src, dst, size: int, what: str, progress: Progress) -> str:
    h, done = hashlib.sha256(), 0
    while block := src.read(min(BLOCK, size - done) if size - done else BLOCK):
        h.update(block)
        dst.write(block)
        done += len(block)
        progress(what, done, size)
    return h.hexdigest()


# --- what a snapshot holds ------------------------------------------------------------------------------
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""


def _row_counts(conn) -> dict[str, int]:
    from psycopg import sql

    return {
        t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
        for (t,) in conn.execute(_TABLES).fetchall()
    }


def _content_hashes(conn, tables: dict[str, int]) -> dict[str, list[dict]]:
    """The SHA-256 of every photo and attachment as stored (recomputed by PostgreSQL, not the recorded column)."""
    out = {}
    for table, column in (("incident_photos", "original"), ("case_attachments", "data")):
        if table in tables:
            rows = conn.execute(f"SELECT id, encode(sha256({column}), 'hex'), sha256 FROM {table} ORDER BY id")
            out[table] = [
                {"id": i, "sha256": actual, **({} if actual == recorded else {"recorded_sha256": recorded})}
                for i, actual, recorded in rows
            ]
    return out


def _audit_head(conn, tables: dict[str, int]) -> dict | None:
    if "audit_log" not in tables:
        return None
    head = audit.head_entry(conn)
    return {"entries": tables["audit_log"], "head_id": head[0] if head else 0, "head_hash": head[1] if head else None}


def _revision(conn, tables: dict[str, int]) -> str | None:
    if "alembic_version" not in tables:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


# --- backup -----------------------------------------------------------------------------------------------
def create_backup(url: URL | str, out: Path, *, allow_missing_files: bool = False, progress: Progress = _noop) -> dict:
    """Write a backup archive to ``out`` (a tar; written beside it and renamed when complete). Returns its manifest."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new name (a backup never overwrites another)")
    if not out.parent.is_dir():
        raise BackupError(f"folder {out.parent} does not exist")
    with scratch.temp_dir("backup-") as tmp, _database_errors():
        dump = Path(tmp) / DUMP
        manifest, rasters = _dump(url, dump, progress)
        files = _raster_files(rasters, allow_missing_files, manifest)
        partial = out.with_name(f".{out.name}.partial")
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                manifest["database"] = {"path": DUMP, "kind": "database"}
                _add(tar, dump, manifest["database"], progress)
                for f in files:
                    _add(tar, Path(f["original_path"]), f, progress)
                manifest["files"] = files
                body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), int(datetime.now().timestamp()), 0o644
                tar.addfile(info, io.BytesIO(body))
            with open(partial, "rb") as fh:
                os.fsync(fh.fileno())
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _dump(url: URL | str, dump: Path, progress: Progress) -> tuple[dict, list]:
    """pg_dump in one exported snapshot, with the counts, hashes and raster list of that same snapshot."""
    with _connect(url, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = _row_counts(conn)
        if "alembic_version" not in tables:
            raise BackupError("the database has no geo_service schema (nothing to back up); check the settings")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "service_version": __version__,
            "schema_revision": _revision(conn, tables),
            "postgresql": conn.execute("SHOW server_version").fetchone()[0],
            "database_name": _url(url).database,
            "row_counts": tables,
            "audit": _audit_head(conn, tables),
            "stored_in_database": _content_hashes(conn, tables),
        }
        rasters = raster_files(conn) if "hotspot_rasters" in tables else []
        pg_dump = client_program(conn, "pg_dump")
        manifest["pg_dump"] = subprocess.run(
            [str(pg_dump), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        progress("database dump (pg_dump)", 0, 0)
        _run(
            [str(pg_dump), "--format=custom", "--no-password", f"--snapshot={snapshot}", f"--file={dump}"],
            _libpq_env(url),
        )
        conn.execute("COMMIT")
    return manifest, rasters


def _raster_files(rasters: list, allow_missing_files: bool, manifest: dict) -> list[dict]:
    """One archive entry per distinct raster file (rows of several products may share one COG)."""
    files: list[dict] = []
    missing: list[dict] = []
    by_path: dict[str, dict] = {}
    for raster_id, path in rasters:
        if path in by_path:
            by_path[path]["raster_ids"].append(raster_id)
            continue
        if not Path(path).is_file():
            missing.append({"raster_id": raster_id, "path": path})
            continue
        name = f"{RASTERS}/{Path(path).name}"
        if any(f["path"] == name for f in files):
            name = f"{RASTERS}/{raster_id}-{Path(path).name}"
        by_path[path] = {"path": name, "kind": "raster", "original_path": path, "raster_ids": [raster_id]}
        files.append(by_path[path])
    if missing and not allow_missing_files:
        raise BackupError(
            f"{len(missing)} raster files the database points at are missing (first: "
            f"{missing[0]['path']}); put them back, or back up without them with --allow-missing-files",
            details=missing,
        )
    manifest["missing_files"] = missing
    return files


def _add(tar: tarfile.TarFile, path: Path, entry: dict, progress: Progress) -> None:
    info = tar.gettarinfo(str(path), arcname=entry["path"])
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(path, "rb") as f:
        reader = _HashingReader(f, lambda n: progress(entry["path"], reader.size, info.size))
        tar.addfile(info, reader)
    if reader.size != info.size:
        raise BackupError(f"{path} changed while it was being backed up")
    entry.update(sha256=reader.h.hexdigest(), size=info.size)


# --- checking an archive --------------------------------------------------------------------------------
@dataclass
class Archive:
    """A checked archive: its manifest and the folder it was extracted to."""

    manifest: dict
    staged: Path  # where the dump and the files were extracted (all hashes checked)

    @property
    def dump(self) -> Path:
        """The extracted database dump."""
        return self.staged / DUMP


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts:
        return False
    return name == DUMP or (name.startswith(RASTERS + "/") and len(p.parts) == 3)


def check_archive(path: Path, staging: Path | None, progress: Progress = _noop) -> Archive:
    """Read the manifest and check the SHA-256 and size of every member (extracting it to ``staging``).

    Raises BackupError on anything missing, extra, unsafe or damaged; nothing outside ``staging`` is touched.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        with tarfile.open(path, "r:") as tar:
            try:
                manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]  # None: AttributeError below
            except (KeyError, AttributeError):
                raise BackupError(f"{path} has no {MANIFEST}: not a geo_service backup, or damaged") from None
            except ValueError:
                raise BackupError(f"{path}: its {MANIFEST} is damaged (not JSON)") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BackupError(f"{path} is not a geo_service backup")
            if manifest.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"{path} is backup format {manifest.get('format_version')}; this version reads "
                    f"format {FORMAT_VERSION}"
                )
            expected = {e["path"]: e for e in [manifest["database"], *manifest.get("files", [])]}
            problems = []
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                entry = expected.get(member.name)
                if entry is None or not _safe_name(member.name) or not member.isreg():
                    problems.append({"path": member.name, "problem": "not listed in the manifest"})
                    continue
                seen.add(member.name)
                target_path = Path(os.devnull) if staging is None else staging / member.name
                target_path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target_path, "wb") as target:  # type: ignore[union-attr]
                    digest = _copy_hashing(src, target, member.size, member.name, progress)
                if member.size != entry["size"] or digest != entry["sha256"]:
                    problems.append({"path": member.name, "problem": "SHA-256 differs from the manifest (damaged)"})
            problems += [{"path": p, "problem": "missing from the archive"} for p in expected if p not in seen]
    except (KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"{path}: its {MANIFEST} is incomplete or malformed ({exc}); not restorable") from None
    except (tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is damaged (truncated or not a tar archive): {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if problems:
        raise BackupError(f"{path} is damaged: {len(problems)} problem(s); nothing was restored", details=problems)
    return Archive(manifest, staging or Path(os.devnull))


# --- restore ---------------------------------------------------------------------------------------------
@dataclass
class RestoreReport:
    """What a restore did and the problems its verification found."""

    manifest: dict
    schema_revision: str | None
    files: int = 0
    relocated: int = 0
    audit_entries: int = 0
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the verification found no problem."""
        return not self.problems


def _known_revision(revision: str | None) -> bool:
    from alembic.script import ScriptDirectory

    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(alembic_config(None)).get_revision(revision) is not None
    except Exception:
        return False


def database_is_empty(url: URL | str) -> bool:
    """True when the database has no tables of its own (extensions such as PostGIS do not count)."""
    with _connect(url) as conn:
        return not conn.execute(
            _TABLES.replace(
                "n.nspname = 'public'",
                "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
            )
        ).fetchone()


def ensure_database(url: URL | str) -> None:
    """Create the database of ``url`` if the server does not have it (a restore onto a new server)."""
    from psycopg import sql

    name = _database_name(url)
    with _connect(url, database="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def recreate_database(url: URL | str) -> None:
    """Drop the database of ``url`` (closing its connections) and create it empty."""
    from psycopg import sql

    name = _database_name(url)
    with _connect(url, database="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def restore_backup(
    url: URL | str,
    archive_path: Path,
    raster_store: Path,
    *,
    force: bool = False,
    settings: Settings,
    actor: str | None = None,
    progress: Progress = _noop,
) -> RestoreReport:
    """Check the archive, restore the database (one transaction) and the raster files, then verify it all.

    ``settings``: the command's, carried by the sessions that verify and record the restore.

    When everything verifies and ``actor`` is given, the restore itself is appended to the audit trail
    (which backup, by whom), after the backup's own last entry.
    """
    with scratch.temp_dir("restore-") as tmp, _database_errors():
        archive = check_archive(archive_path, Path(tmp), progress)  # before anything is touched
        manifest = archive.manifest
        revision = manifest.get("schema_revision")
        if not _known_revision(revision):
            raise BackupError(
                f"the archive's schema revision {revision} is unknown to this geo_service "
                f"({manifest.get('service_version')} made it); restore it with that version or newer"
            )
        ensure_database(url)
        if not database_is_empty(url):
            if not force:
                raise BackupError(
                    f"database {_url(url).database!r} is not empty; restore into an empty database, "
                    "or add --force to drop and recreate it (stop the service first)"
                )
            recreate_database(url)
        with _connect(url, autocommit=True) as conn:
            pg_restore = client_program(conn, "pg_restore")
            _ensure_app_role(conn)
        progress("database restore (pg_restore)", 0, 0)
        _run(
            [
                str(pg_restore),
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-password",
                f"--dbname={_url(url).database}",
                str(archive.dump),
            ],
            _libpq_env(url),
        )
        report = RestoreReport(manifest=manifest, schema_revision=revision)
        report.relocated = _restore_files(url, archive, Path(raster_store), progress)
        report.files = len(manifest.get("files", []))
    with _database_errors():
        verify_restored(url, manifest, report, settings, progress)
        if report.ok and actor:
            _record_restore(url, actor, manifest, report, settings)
    return report


def _record_restore(url: URL | str, actor: str, manifest: dict, report: RestoreReport, settings: Settings) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with make_sessionmaker(engine, settings)() as session, session.begin():
            audit.record(
                session,
                actor,
                "restore",
                "database",
                _url(url).database,
                after={
                    "backup_created_at": manifest["created_at"],
                    "schema_revision": manifest["schema_revision"],
                    "service_version": manifest["service_version"],
                    "dump_sha256": manifest["database"]["sha256"],
                    "raster_files": report.files,
                    "audit_head_of_backup": manifest.get("audit"),
                },
            )
    finally:
        engine.dispose()


def _ensure_app_role(conn) -> None:
    """The role the service switches to for row-level security lives in the cluster, not in the dump: a new
    server gets it (as migration 0004 creates it) before the dump's grants to it are restored."""
    from psycopg import sql

    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(APP_ROLE)))
    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(APP_ROLE)))


def _restore_files(url: URL | str, archive: Archive, store: Path, progress: Progress) -> int:
    """Put every raster back into the store (atomically) and point moved rows at their new path."""
    relocated = 0
    moves = []
    for f in archive.manifest.get("files", []):
        store.mkdir(parents=True, exist_ok=True)
        target = store / PurePosixPath(f["path"]).name
        src = archive.staged / f["path"]
        partial = scratch.partial_path(store, target.name)
        try:
            with open(src, "rb") as s, open(partial, "wb") as d:
                _copy_hashing(s, d, f["size"], f"restoring {f['path']}", progress)
                d.flush()
                os.fsync(d.fileno())
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        f["restored_path"] = str(target.absolute())
        if f["restored_path"] != f["original_path"]:
            moves.append((f["restored_path"], f["raster_ids"]))
    if moves:
        with _connect(url) as conn, conn.transaction():
            for new_path, ids in moves:
                relocated += relocate_raster_files(conn, new_path, ids)
    return relocated


def verify_restored(
    url: URL | str, manifest: dict, report: RestoreReport, settings: Settings, progress: Progress = _noop
) -> None:
    """Compare the restored database and files with the manifest; problems go into ``report.problems``."""
    engine = make_engine(url, pool_size=1)
    try:
        with make_sessionmaker(engine, settings)() as session:
            result = audit.verify(session)
        report.audit_entries = result.entries
        report.problems += [{"what": f"audit entry {p['id']}", "problem": p["problem"]} for p in result.problems]
    finally:
        engine.dispose()
    with _connect(url) as conn:
        counts = _row_counts(conn)
        for table, n in manifest.get("row_counts", {}).items():
            if counts.get(table) != n:
                report.problems.append(
                    {"what": f"table {table}", "problem": f"{counts.get(table)} rows, the backup had {n}"}
                )
        head = manifest.get("audit")
        if head and head.get("head_id"):
            stored = audit.entry_hash(conn, head["head_id"])
            if stored is None or stored != head["head_hash"]:
                report.problems.append(
                    {
                        "what": f"audit entry {head['head_id']}",
                        "problem": "the restored head of the trail differs from the backup's",
                    }
                )
        restored = _content_hashes(conn, counts)
        for table, rows in manifest.get("stored_in_database", {}).items():
            now = {r["id"]: r["sha256"] for r in restored.get(table, [])}
            for r in rows:
                if now.get(r["id"]) != r["sha256"]:
                    report.problems.append({"what": f"{table} {r['id']}", "problem": "SHA-256 differs from the backup"})
    for f in manifest.get("files", []):
        path = f.get("restored_path") or f["original_path"]
        progress(f"verifying {f['path']}", 0, f["size"])
        if not Path(path).is_file() or sha256_file(path) != f["sha256"]:
            report.problems.append({"what": path, "problem": "file missing or its SHA-256 differs from the backup"})
        progress(f"verifying {f['path']}", f["size"], f["size"])
