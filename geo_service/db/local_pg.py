"""The embedded, project-local PostgreSQL + PostGIS cluster (initdb/pg_ctl of the system's PostgreSQL).

PostgreSQL refuses to run as root. When this process is root, every server command is run as an
unprivileged OS user (``postgres`` from Debian's package by default) through ``runuser``; the data
folder belongs to that user. The cluster listens on loopback TCP only (no unix socket, so long
temporary paths are no problem) and authenticates with a generated password (scram-sha-256) kept in
a file readable only by the owner of the project folder.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from geo_service.errors import LocalDatabaseError

PG_VERSIONS = ("17", "16", "15", "14", "13")


def find_pg_bindir() -> Path:
    """The newest installed PostgreSQL whose share folder has PostGIS (Debian layout first, then PATH)."""
    for version in PG_VERSIONS:
        bindir = Path(f"/usr/lib/postgresql/{version}/bin")
        if (bindir / "pg_ctl").exists() and Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return bindir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise LocalDatabaseError(
        "PostgreSQL with PostGIS is not installed. Run ./dev setup, or as root: "
        "apt-get install postgresql-15 postgresql-15-postgis-3"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``root/pgdata``, started and stopped by this project.

    Parameters
    ----------
    root : folder for the cluster, its log and its password file.
    port : loopback TCP port.
    os_user : the user that runs the server when this process is root.
    durable : False turns fsync off (throwaway test clusters only).
    replication : a primary that streaming standbys can be made from (``make_standby``): WAL for replicas, WAL
        senders, and full-page writes kept on even when not durable (a base backup needs them).
    """

    root: Path
    port: int = 54329
    host: str = "127.0.0.1"
    os_user: str = "postgres"
    durable: bool = True
    replication: bool = False
    bindir: Path = field(default_factory=find_pg_bindir)

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    # -- paths -----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.root / "postgresql.log"

    @property
    def password_file(self) -> Path:
        """The file holding the superuser's generated password."""
        return self.root / "db_password"

    # -- running commands as the right user ---------------------------------------
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(
        self, args: list[str], input_text: str | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root():
            runuser = shutil.which("runuser") or shutil.which("setpriv")
            if not runuser:
                raise LocalDatabaseError(
                    "running as root needs runuser (util-linux) to start PostgreSQL as a normal user"
                )
            keep = ["-w", ",".join(env)] if env else []
            cmd = [runuser, *keep, "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(
            cmd, input=input_text, capture_output=True, text=True, cwd="/", env={**os.environ, **(env or {})}
        )
        if check and proc.returncode != 0:
            raise LocalDatabaseError(f"{args[0]} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._as_root():
            return
        try:
            user = pwd.getpwnam(self.os_user)
        except KeyError as exc:
            raise LocalDatabaseError(
                f"running as root, but there is no OS user {self.os_user!r} to run PostgreSQL "
                "(Debian's postgresql package creates 'postgres'; or set GEO_SERVICE_DB_OS_USER)"
            ) from exc
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        # Every parent must be traversable by that user, or the server cannot reach its data.
        for parent in self.data_dir.parents:
            if not os.stat(parent).st_mode & 0o001:
                raise LocalDatabaseError(
                    f"{parent} is not traversable by user {self.os_user!r}; "
                    "choose a data folder elsewhere with GEO_SERVICE_DATA_DIR, or chmod o+x that folder"
                )

    # -- lifecycle ----------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        """Whether the cluster has been created."""
        return (self.data_dir / "PG_VERSION").exists()

    def password(self) -> str:
        """The superuser's password."""
        return self.password_file.read_text().strip()

    def init(self) -> bool:
        """Create the cluster if it does not exist yet. Returns True if it was created."""
        if self.initialised:
            return False
        self._prepare_dirs()
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        # initdb reads the superuser password from a file the server's user can read; it is removed at once.
        pwfile = self.root / ".initdb_pw"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password() + "\n")
        try:
            if self._as_root():
                user = pwd.getpwnam(self.os_user)
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=reject",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def _server_options(self) -> str:
        opts = [
            f"-p {self.port}",
            f"-c listen_addresses={self.host}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            "-c timezone=UTC",
        ]
        if not self.durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off"]
            if not self.replication:
                opts.append("-c full_page_writes=off")
        if self.replication:
            # standbys from pg_basebackup: WAL for replicas, senders for each standby and its base backup, and
            # WAL kept long enough for a paused or stopped standby to catch up
            opts += ["-c wal_level=replica", "-c max_wal_senders=10", "-c wal_keep_size=512MB", "-c hot_standby=on"]
            # on a standby: the primary keeps the row versions its long reads need (replay does not cancel them)
            opts.append("-c hot_standby_feedback=on")
        return " ".join(opts)

    def running(self) -> bool:
        """Whether the server is running."""
        if not self.initialised:
            return False
        return self._run(["pg_ctl", "-D", str(self.data_dir), "status"], check=False).returncode == 0

    def start(self, timeout: int = 60) -> bool:
        """Initialise if needed and start; wait until it accepts connections. Returns True if it was started."""
        self.init()
        if self.running():
            return False
        if _port_in_use(self.host, self.port):
            raise LocalDatabaseError(
                f"port {self.port} on {self.host} is taken by another program; set GEO_SERVICE_DB_PORT to a free port"
            )
        if self._as_root():
            self.log_file.touch(exist_ok=True)
            user = pwd.getpwnam(self.os_user)
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        proc = self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(timeout),
                "-o",
                self._server_options(),
                "start",
            ],
            check=False,
        )
        if proc.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else proc.stderr
            raise LocalDatabaseError(f"PostgreSQL did not start: {tail.strip()}")
        return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown: open transactions roll back). Returns True if it was running."""
        if not self.running():
            return False
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        return True

    def make_standby(self, root: Path, port: int) -> LocalPostgres:
        """A streaming standby of this running cluster in ``root/pgdata`` (not started; ``start()`` it).

        ``pg_basebackup -R`` copies the cluster over the replication protocol (initdb's pg_hba allows replication
        connections from the loopback with the password) and writes ``standby.signal`` with the
        ``primary_conninfo``; the standby then replays the primary's WAL as it is streamed, read-only (hot standby).
        Only for a cluster made with ``replication=True``.
        """
        if not self.replication:
            raise LocalDatabaseError("a standby needs a primary started with replication=True")
        standby = LocalPostgres(
            root,
            port=port,
            host=self.host,
            os_user=self.os_user,
            durable=self.durable,
            replication=True,
            bindir=self.bindir,
        )
        if standby.initialised:
            raise LocalDatabaseError(f"{standby.data_dir} already holds a cluster")
        standby._prepare_dirs()
        standby.password_file.touch(mode=0o600)
        standby.password_file.write_text(self.password())
        self._run(
            [
                "pg_basebackup",
                "-D",
                str(standby.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-R",  # standby.signal + primary_conninfo
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-password",
            ],
            env={"PGPASSWORD": self.password()},
        )
        return standby

    def destroy(self) -> None:
        """Stop and delete the cluster (tests)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def version(self) -> str:
        """The PostgreSQL version of the server binaries."""
        out = self._run(["postgres", "--version"]).stdout
        m = re.search(r"(\d+(\.\d+)?)", out)
        return m.group(1) if m else out.strip()

    # -- databases ------------------------------------------------------------------
    def url(self, database: str = "postgres") -> URL:
        """The URL of ``database`` on this cluster."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            password=self.password(),
            host=self.host,
            port=self.port,
            database=database,
        )

    def ensure_database(self, name: str, template: str | None = None) -> bool:
        """Create database ``name`` (with PostGIS) unless it exists. Returns True if it was created."""
        import psycopg
        from psycopg import sql

        conninfo: dict[str, Any] = dict(
            host=self.host, port=self.port, user="postgres", password=self.password(), dbname="postgres"
        )
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                conn.execute(stmt)
        if not exists and not template:
            with psycopg.connect(**{**conninfo, "dbname": name}, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return not exists

    def drop_database(self, name: str) -> None:
        """Drop a database of this cluster (its connections are closed first)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user="postgres",
            password=self.password(),
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for(url, timeout: float = 60.0) -> None:
    """Wait until a PostgreSQL server at ``url`` (an external one) accepts connections."""
    from sqlalchemy import create_engine, text

    deadline = time.monotonic() + timeout
    engine = create_engine(url, pool_pre_ping=True)
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except Exception as exc:
                last = exc
                time.sleep(1)
    finally:
        engine.dispose()
    raise LocalDatabaseError(f"database not reachable after {timeout:.0f} s: {type(last).__name__}")
