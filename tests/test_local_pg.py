"""The embedded cluster: started as an unprivileged user, loopback only, password required, clean stop."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

from geo_service.db.local_pg import LocalPostgres, free_port
from geo_service.errors import LocalDatabaseError


def _connect(cluster: LocalPostgres, password: str | None = None, dbname: str = "postgres"):
    return psycopg.connect(
        host=cluster.host,
        port=cluster.port,
        user="postgres",
        dbname=dbname,
        password=password if password is not None else cluster.password(),
        connect_timeout=5,
    )


def test_server_runs_as_unprivileged_user_on_loopback_only(pg_cluster):
    with _connect(pg_cluster) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == ""
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        # The backend serving this connection belongs to a normal user, never root.
        assert os.stat(f"/proc/{pid}").st_uid != 0
    assert data_dir == str(pg_cluster.data_dir)
    assert os.stat(pg_cluster.data_dir).st_uid != 0 or os.geteuid() != 0


def test_password_is_required(pg_cluster):
    with pytest.raises(psycopg.OperationalError):
        _connect(pg_cluster, password="wrong-password")
    assert oct(os.stat(pg_cluster.password_file).st_mode & 0o777) == "0o600"


def test_postgis_is_available(pg_cluster, empty_db_url):
    with _connect(pg_cluster, dbname=empty_db_url.database) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    assert version.split(".")[0] == "3"


@pytest.fixture
def open_tmp():
    """A temporary folder that the server's own user can traverse (pytest's tmp_path is 0700 for root)."""
    path = Path(tempfile.mkdtemp(prefix="geo_service_test_"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_lifecycle_init_start_stop_restart(open_tmp):
    root = open_tmp / "cluster"
    cluster = LocalPostgres(root, port=free_port(), durable=False)
    try:
        assert not cluster.running()
        assert cluster.start() is True
        assert cluster.running()
        assert cluster.start() is False  # already running: no second server
        assert cluster.ensure_database("geo") is True
        assert cluster.ensure_database("geo") is False
        assert cluster.stop() is True
        assert not cluster.running()
        assert cluster.stop() is False
        # Data survives a restart.
        cluster.start()
        with _connect(cluster, dbname="geo") as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'").fetchone()[0] == 1
    finally:
        cluster.destroy()
    assert not root.exists()


@pytest.mark.slow
def test_port_taken_by_another_program_is_explained(open_tmp):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        cluster = LocalPostgres(open_tmp / "c", port=port, durable=False)
        try:
            with pytest.raises(LocalDatabaseError, match=r"port .* is taken"):
                cluster.start()
        finally:
            cluster.destroy()


def test_untraversable_parent_is_explained(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root hands the data folder to another user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    cluster = LocalPostgres(locked / "c", port=free_port())
    with pytest.raises(LocalDatabaseError, match="not traversable"):
        cluster.init()
