"""Scratch files that a crash (kill -9, power loss) must not leave behind.

Uploads, exports and raster conversions write into a folder of their own process,
``<data_dir>/tmp/<pid>-<random>``, which the process holds an exclusive lock on (``flock``) while it
runs. The raster store writes a COG as ``.<sha256>.<that folder's name>.<random>.partial.tif`` and renames it
when complete. At start-up, every scratch folder whose lock can be taken (its process is gone, however
it ended) is deleted, with every partial file that belongs to no running process. Several workers may
share the data folder: a running one keeps its lock, its folder and its partial files.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from geo_service.settings import HotspotSettings

log = logging.getLogger("geo_service")
LOCK = ".lock"
_state: dict = {"dir": None, "lock": None}


def _held_by_a_live_process(folder: Path) -> bool:
    try:
        fd = os.open(folder / LOCK, os.O_RDWR)
    except OSError:
        return False  # no lock file: left behind before it was written
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def clean(root: Path, stores: Sequence[Path] = ()) -> list[Path]:
    """Delete the scratch folders of processes that no longer run, and partial files in ``stores`` that
    belong to no running process. Returns what was deleted."""
    removed: list[Path] = []
    live: set[str] = set()
    if root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and _held_by_a_live_process(child):
                live.add(child.name)
                continue
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
            removed.append(child)
    for store in stores:
        if Path(store).is_dir():
            for partial in Path(store).glob(".*.partial.tif"):
                owner = partial.name.split(".")[2] if partial.name.count(".") >= 4 else None
                if owner not in live:
                    partial.unlink(missing_ok=True)
                    removed.append(partial)
    return removed


def start(data_dir: Path, stores: Sequence[Path] = ()) -> list[Path]:
    """Clean up after crashed processes, then create and lock this process's scratch folder."""
    root = Path(data_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    removed = clean(root, stores)
    if removed:
        log.info("removed %d crash leftovers: %s", len(removed), ", ".join(p.name for p in removed[:20]))
    mine = root / f"{os.getpid()}-{secrets.token_hex(4)}"
    mine.mkdir()
    fd = os.open(mine / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    stop()
    _state.update(dir=mine, lock=fd)
    if not _state.get("atexit"):  # a clean exit (a CLI command, a stopped server) removes its own folder
        atexit.register(stop)
        _state["atexit"] = True
    return removed


def start_service(data_dir: Path, hotspots: HotspotSettings) -> list[Path]:
    """start() for the service and its command line: the raster store's partial COGs (where ``hotspots``, the
    edge's settings, put it) are cleaned too."""
    return start(data_dir, [hotspots.raster_store(Path(data_dir))])


def stop() -> None:
    """Remove this process's scratch folder (at a clean shutdown)."""
    folder, fd = _state["dir"], _state["lock"]
    _state.update(dir=None, lock=None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if fd is not None:
        os.close(fd)


def folder() -> Path | None:
    """This process's scratch folder (None before start(): the system's temporary folder is used)."""
    return _state["dir"]


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder in this process's scratch folder, removed at the end of a with block."""
    return tempfile.TemporaryDirectory(prefix=prefix, dir=folder())


def mkdtemp(prefix: str) -> Path:
    """A temporary folder in this process's scratch folder, for the caller to remove."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=folder()))


def partial_path(store_dir: Path, name: str) -> Path:
    """Where a file is written before it is renamed to ``store_dir / name``, marked with this process and
    unique within it (two products of one file may be converted at once)."""
    mine = folder()
    owner = mine.name if mine is not None else f"{os.getpid()}-cli"
    return Path(store_dir) / f".{Path(name).stem}.{owner}.{uuid.uuid4().hex[:12]}.partial{Path(name).suffix}"
