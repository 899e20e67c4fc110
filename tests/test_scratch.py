"""Crash leftovers (issue 12, point 8): scratch folders and partial COGs of dead processes are removed at
start-up; those of running processes are kept."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap

from geo_service import scratch
from geo_service.settings import HotspotSettings
from tests.conftest import app_client


def test_start_up_removes_what_a_killed_process_left_and_keeps_a_running_ones(db_url, tmp_path):
    data_dir = tmp_path / "data"
    store = HotspotSettings().raster_store(data_dir)
    store.mkdir(parents=True)
    # a process killed with SIGKILL in the middle of an upload and a COG conversion
    victim = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from geo_service import scratch
        scratch.start(Path({str(data_dir)!r}))
        with open(scratch.mkdtemp("geo_service_upload_") / "layer.gpkg", "wb") as f:
            f.write(b"x" * 1000)
        scratch.partial_path(Path({str(store)!r}), "abc.tif").write_bytes(b"half a COG")
        os.kill(os.getpid(), signal.SIGKILL)
    """),
        ],
        cwd=os.getcwd(),
        capture_output=True,
    )
    assert victim.returncode == -signal.SIGKILL, victim.stderr
    (store / ".def.partial.tif").write_bytes(b"from an older version")  # no owner at all
    (store / "fed.tif").write_bytes(b"a complete COG")
    leftovers = list((data_dir / "tmp").iterdir()) + list(store.glob(".*"))
    assert len(leftovers) == 3 and any(p.suffix == ".tif" for p in leftovers)
    # another worker sharing the data folder is busy converting: its lock, folder and partial file stay
    busy = data_dir / "tmp" / "424242-busy"
    busy.mkdir()
    fd = os.open(busy / scratch.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    (store / ".ghi.424242-busy.partial.tif").write_bytes(b"being written")
    try:
        with app_client(db_url, data_dir):
            mine = scratch.folder()
            assert mine is not None and mine.parent == data_dir / "tmp"
            assert sorted(p.name for p in (data_dir / "tmp").iterdir()) == sorted([mine.name, busy.name])
            assert sorted(p.name for p in store.iterdir()) == [".ghi.424242-busy.partial.tif", "fed.tif"]
            assert scratch.temp_dir("x_").name.startswith(str(mine))
        assert not mine.exists()  # a clean shutdown removes its own folder
    finally:
        os.close(fd)
