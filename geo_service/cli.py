"""The `geo-service` command line: database, layers, serve, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import progress as rp
from rich.table import Table
from sqlalchemy.engine import URL, make_url

from geo_service import audit, cli_support, notebook_runner, scratch
from geo_service.alerts.cli import alerts_app
from geo_service.auth import Principal, Role, role_label
from geo_service.batch.cli import batch_app
from geo_service.citizen.cli import citizen_app
from geo_service.cli_support import (
    cli_actor,
    cli_sessionmaker,
    cluster,
    command_errors,
    console,
    database,
    out,
    prepare_database,
)
from geo_service.db import migrate as migrations
from geo_service.db.backup import check_archive, create_backup, restore_backup
from geo_service.db.engine import database_url, transaction
from geo_service.db.local_pg import wait_for
from geo_service.db.startup import startup_lock
from geo_service.errors import InvalidInput
from geo_service.forest_loss.cli import forest_loss_app
from geo_service.hashing import sha256_file
from geo_service.hotspots.cli import hotspots_app, rasters_app
from geo_service.layers import queries as layer_queries
from geo_service.layers.load import load_file
from geo_service.layers.manifest import DEFAULT_LAYERS_DIR, bundled_layers, load_bundled
from geo_service.layers.store import LayerMeta, LoadReport
from geo_service.maps import cli as maps_cli
from geo_service.redflags.cli import redflags_app
from geo_service.settings import Settings, get_settings
from geo_service.simulation import cli as simulation_cli
from geo_service.users import create_user, list_users, update_user
from geo_service.worker.cli import worker_app

# The application's factory, by its import string: the command line does not import the web app.
APP_FACTORY = "geo_service.main:create_app"

app = typer.Typer(
    help="geo_service: forest reserves, incidents, hotspots and cases on PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The database: the embedded PostGIS cluster and migrations.", no_args_is_help=True)
layers_app = typer.Typer(help="Reference layers: districts, subdistricts, protected areas.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)
incidents_app = typer.Typer(help="Field incidents.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
notebooks_app = typer.Typer(help="Analyses in notebooks/, run against the service's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(layers_app, name="layers")
app.add_typer(users_app, name="users")
app.add_typer(incidents_app, name="incidents")
app.add_typer(audit_app, name="audit")
app.add_typer(notebooks_app, name="notebooks")
app.add_typer(maps_cli.app, name="maps")
app.add_typer(hotspots_app, name="hotspots")
app.add_typer(rasters_app, name="rasters")
app.add_typer(simulation_cli.app, name="simulate")
app.add_typer(forest_loss_app, name="forest-loss")
app.add_typer(batch_app, name="batch")
app.add_typer(worker_app, name="worker")
app.add_typer(citizen_app, name="citizen")
app.add_typer(alerts_app, name="alerts")
app.add_typer(redflags_app, name="redflags")


@app.callback()
def _each_command() -> None:
    # runs before every command
    cli_support.fit_width()


def wired() -> None:
    """Connect the domains (``wiring.wire``) before a command loads a layer: incidents and hotspots are then
    re-attributed in the load's transaction. Imported here, when a command needs it, because the re-attribution
    brings pandas and pyarrow, which every other command would otherwise wait for at start."""
    from geo_service import wiring

    wiring.wire()


# --- db -------------------------------------------------------------------------------------------
@db_app.command("start")
def db_start() -> None:
    """Initialise (first time) and start the embedded cluster, create the database and migrate it."""
    with database():
        pass


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster cleanly."""
    settings = get_settings()
    if not settings.db.embedded:
        console.print("GEO_SERVICE_DATABASE_URL is set: the database is not managed by this project.")
        raise typer.Exit(code=1)
    with command_errors():
        stopped = cluster(settings).stop()
    console.print("PostgreSQL stopped." if stopped else "PostgreSQL was not running.")


@db_app.command("status")
def db_status() -> None:
    """Is the database running, where, and at which schema revision."""
    settings = get_settings()
    if settings.db.embedded:
        local = cluster(settings)
        running = local.running()
        console.print(
            f"embedded cluster: {local.data_dir} on {local.host}:{local.port}: "
            f"{'running' if running else 'stopped' if local.initialised else 'not created yet'}"
        )
        if not running:
            raise typer.Exit(code=3)
    else:
        console.print("external database (GEO_SERVICE_DATABASE_URL)")
    try:
        console.print(f"schema revision: {migrations.current(database_url(settings))}")
    except Exception as exc:
        console.print(f"[red]database not reachable:[/] {type(exc).__name__}")
        raise typer.Exit(code=3) from None


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Upgrade the schema (Alembic) to a revision, head by default."""
    with database() as db:
        migrations.upgrade(db.url, revision)
        console.print(f"schema at revision {migrations.current(db.url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision ('base' drops everything)")]) -> None:
    """Downgrade the schema to a revision."""
    with database() as db:
        migrations.downgrade(db.url, revision)
        console.print(f"schema at revision {migrations.current(db.url)}")


def _raster_store(settings: Settings) -> Path:
    return settings.hotspots.raster_store(settings.db.data_dir)


def _restore_target(settings: Settings) -> URL | str:
    """The database to restore into: the embedded cluster started (no migration: the database stays empty), or the
    external server reached through its maintenance database (the target database may not exist yet)."""
    if settings.db.embedded:
        return prepare_database(settings, migrate=False)[0]
    url = make_url(database_url(settings))
    with console.status("Waiting for the database server ..."):
        wait_for(url.set(database="postgres"))
    scratch.start_service(settings.db.data_dir, settings.hotspots)
    return url


class _ByteProgress:
    """A rich progress bar per file (bytes), and a spinner line for steps without a size (pg_dump, pg_restore)."""

    def __init__(self):
        self.progress = rp.Progress(
            rp.SpinnerColumn(),
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.DownloadColumn(),
            rp.TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, rp.TaskID] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, what: str, done: int, total: int) -> None:
        if what not in self.tasks:
            for task in self.tasks.values():  # one step at a time: the previous one is finished
                self.progress.update(task, visible=False)
            self.tasks[what] = self.progress.add_task(what, total=total or None)
        self.progress.update(self.tasks[what], completed=done, total=total or None)


@db_app.command("backup")
def db_backup(
    output: Annotated[Path, typer.Argument(help="The archive to write (a .tar; must not exist yet)")],
    allow_missing_files: Annotated[
        bool,
        typer.Option(
            help="Back up even if raster files the database points at are missing (they are listed in the manifest)"
        ),
    ] = False,
) -> None:
    """Back up the database (pg_dump) and the raster files into one archive with a manifest of SHA-256s."""
    with database(migrate=False) as db, _ByteProgress() as progress:
        manifest = create_backup(db.url, output, allow_missing_files=allow_missing_files, progress=progress)
    for m in manifest["missing_files"]:
        console.print(f"[yellow]warning[/] raster {m['raster_id']}: {m['path']} is missing, not in the backup")
    stored = manifest["stored_in_database"]
    for table, rows in stored.items():
        for r in rows:
            if "recorded_sha256" in r:
                console.print(
                    f"[yellow]warning[/] {table} {r['id']}: its stored bytes do not match its recorded "
                    "SHA-256 (damaged before this backup; backed up as it is)"
                )
    out.print(f"backup written: {output}")
    out.print(
        f"  schema revision {manifest['schema_revision']}, {sum(manifest['row_counts'].values()):,} rows in "
        f"{len(manifest['row_counts'])} tables, database dump {manifest['database']['size']:,} bytes"
    )
    out.print(
        f"  {len(stored.get('incident_photos', []))} photos and {len(stored.get('case_attachments', []))} "
        f"attachments (in the dump), {len(manifest['files'])} raster files"
    )
    if manifest.get("audit"):
        out.print(f"  audit trail: {manifest['audit']['entries']} entries, head {manifest['audit']['head_hash']}")
    out.print(f"  archive SHA-256: {sha256_file(output)}  (keep it with the archive's record)")


@db_app.command("restore")
def db_restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `geo-service db backup`")],
    force: Annotated[
        bool,
        typer.Option(
            help="Drop and recreate the database if it is not empty (stop the service "
            "first: its connections are closed)"
        ),
    ] = False,
    check_only: Annotated[bool, typer.Option(help="Only check the archive's hashes; touch nothing")] = False,
) -> None:
    """Restore a backup: check every hash first, restore into an empty database and put the raster files back,
    then verify the audit chain, the row counts and every photo, attachment and file hash."""
    settings = get_settings()
    with command_errors():
        if check_only:
            with _ByteProgress() as progress:
                manifest = check_archive(archive, None, progress).manifest
            out.print(
                f"{archive}: intact (database dump and {len(manifest['files'])} files match the manifest; "
                f"made {manifest['created_at']} at schema revision {manifest['schema_revision']})"
            )
            return
        url = _restore_target(settings)
        with _ByteProgress() as progress:
            report = restore_backup(
                url,
                archive,
                _raster_store(settings),
                force=force,
                settings=settings,
                actor=cli_actor(),
                progress=progress,
            )
    m = report.manifest
    out.print(f"restored {archive} (made {m['created_at']}, schema revision {report.schema_revision})")
    out.print(
        f"  {sum(m['row_counts'].values()):,} rows in {len(m['row_counts'])} tables, {report.files} raster "
        f"files" + (f" ({report.relocated} rows pointed at the new raster folder)" if report.relocated else "")
    )
    for p in report.problems:
        out.print(f"[red]{p['what']}[/]: {p['problem']}")
    if not report.ok:
        console.print(
            f"[bold red]error:[/] the restored data does not match the backup ({len(report.problems)} problems)"
        )
        raise typer.Exit(code=1)
    out.print(
        f"verified: audit trail intact ({report.audit_entries} entries, head as in the backup), row counts, "
        "and every photo, attachment and file SHA-256 match the manifest; the restore is recorded in the "
        "audit trail"
    )
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrations.alembic_config(None)).get_current_head()
    if report.schema_revision != head:
        console.print(f"The backup's schema is older than this version's ({head}): next, geo-service db migrate")


# --- layers ---------------------------------------------------------------------------------------
def _parse_fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        target, sep, column = p.partition("=")
        if not sep or not target or not column:
            raise typer.BadParameter(f"--field takes TARGET=COLUMN, e.g. code=amp_code (got {p!r})")
        out[target.strip()] = column.strip()
    return out


@layers_app.command("load")
def layers_load(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON, GeoPackage, zipped Shapefile or KML")
    ],
    layer_type: Annotated[str, typer.Option("--type", help="province | district | subdistrict | protected_area")],
    name: Annotated[str, typer.Option(help="Layer name, e.g. rfd-nrf-phrae")],
    version: Annotated[str, typer.Option(help="Version of this release of the layer, e.g. 2025-10")],
    source: Annotated[str, typer.Option(help="Where the file comes from")],
    licence: Annotated[str, typer.Option(help="Licence or terms of use")],
    attribution: Annotated[str, typer.Option(help="Credit line shown with the data")],
    field: Annotated[list[str] | None, typer.Option(help="TARGET=COLUMN, repeatable")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer inside a GeoPackage or KML")] = None,
    encoding: Annotated[str | None, typer.Option(help="Shapefile text encoding, e.g. cp874")] = None,
    kind: Annotated[str | None, typer.Option(help="Protected-area kind for files without a kind column")] = None,
    illustrative: Annotated[bool, typer.Option(help="Mark as illustrative (not official)")] = False,
    repair: Annotated[bool, typer.Option(help="Repair invalid geometries instead of refusing the file")] = False,
    dry_run: Annotated[bool, typer.Option(help="Check and report; store nothing")] = False,
) -> None:
    """Load one layer file (one transaction: all or nothing)."""
    wired()
    with database() as db:
        meta = LayerMeta(
            name=name,
            version=version,
            source=source,
            licence=licence,
            attribution=attribution,
            illustrative=illustrative,
            loaded_by="cli",
        )
        with console.status(f"Loading {file.name} ..."), transaction(db.sessions, dry_run=dry_run) as session:
            report = load_file(
                session,
                file,
                layer_type,
                meta,
                fields=_parse_fields(field or []),
                layer=layer,
                encoding=encoding,
                default_kind=kind,
                repair=repair,
                dry_run=dry_run,
            )
    _print_reports([report])


def _print_reports(reports: list[LoadReport]) -> None:
    table = Table(title="Layers loaded")
    for col in ("layer", "type", "version", "features", "new", "updated", "unchanged", "CRS"):
        table.add_column(col)
    for r in reports:
        table.add_row(
            r.layer,
            r.layer_type,
            r.version,
            str(r.features),
            str(r.inserted),
            str(r.updated),
            str(r.unchanged),
            r.source_crs + (" (dry run)" if r.dry_run else ""),
        )
    out.print(table)
    for r in reports:
        for w in r.warnings:
            console.print(f"[yellow]warning[/] {r.layer}: {w}")


@layers_app.command("load-bundled")
def layers_load_bundled(
    layers_dir: Annotated[Path | None, typer.Option(help="Folder with manifest.toml")] = None,
) -> None:
    """Load the layers shipped in layers/ (Phrae boundaries and illustrative protected areas)."""
    with database() as db:
        _load_bundled(db.url, layers_dir)


def _load_bundled(url: URL | str, layers_dir: Path | None = None) -> None:
    """Load the bundled layers in one transaction, with a progress bar."""
    wired()
    layers_dir = layers_dir or get_settings().service.layers_dir or DEFAULT_LAYERS_DIR
    total = len(bundled_layers(layers_dir))
    with rp.Progress(console=console, transient=True) as progress:
        task = progress.add_task("Loading bundled layers", total=total)

        def step(layer):
            progress.update(task, description=f"Loading {layer.name}")
            progress.advance(task)

        with transaction(cli_sessionmaker(url)) as session:
            reports = load_bundled(session, layers_dir, progress=step)
    _print_reports(reports)


@layers_app.command("list")
def layers_list() -> None:
    """The loaded layer versions with their source and licence."""
    with database() as db, db.sessions() as session:
        rows = layer_queries.layer_sources(session)
    table = Table(title="Loaded layers")
    for col in ("name", "type", "version", "features", "licence", "loaded at"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"] + (" [yellow](illustrative)[/]" if r["illustrative"] else ""),
            r["layer_type"],
            r["version"],
            str(r["feature_count"]),
            r["licence"],
            r["loaded_at"].isoformat(timespec="seconds"),
        )
    out.print(table)


# --- users ---------------------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    role: Annotated[
        list[str],
        typer.Option(help=" | ".join(role_label(r.value) for r in Role) + " (repeatable)"),
    ],
    province: Annotated[
        list[str] | None,
        typer.Option(help="Province code the account works in (repeatable; not for national roles)"),
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in records")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="GEO_SERVICE_NEW_PASSWORD",
            help="At least 10 characters",
        ),
    ] = "",
) -> None:
    """Create a user account (the password is asked for, or read from GEO_SERVICE_NEW_PASSWORD)."""
    with database() as db, transaction(db.sessions) as session:
        user = create_user(session, username, password, role, display_name, actor=cli_actor(), provinces=province)
        where = ", ".join(user.provinces) or "every province"
        out.print(f"created {user.username} ({', '.join(user.roles)}) in {where}")


@users_app.command("list")
def users_list() -> None:
    """User accounts: roles, active or not, last change."""
    with database() as db, db.sessions() as session:
        rows = list_users(session)
    table = Table(title="Users")
    for col in ("username", "display name", "roles", "provinces", "active", "changed"):
        table.add_column(col)
    for u in rows:
        table.add_row(
            u["username"],
            u["display_name"],
            ", ".join(u["roles"]),
            ", ".join(u["provinces"]) or "all",
            "yes" if u["is_active"] else "no",
            u["updated_at"].isoformat(timespec="seconds"),
        )
    out.print(table)


def _change_user(username: str, **change) -> None:
    with database() as db, transaction(db.sessions) as session:
        u = update_user(session, username, cli_actor(), **change)
    where = ", ".join(u["provinces"]) or "every province"
    out.print(f"{u['username']}: {', '.join(u['roles'])}; {'active' if u['is_active'] else 'deactivated'}; in {where}")


@users_app.command("set-roles")
def users_set_roles(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    role: Annotated[list[str], typer.Option(help="The new roles (repeatable); replaces the old ones")],
) -> None:
    """Replace an account's roles; its current sign-ins end."""
    _change_user(username, roles=role)


@users_app.command("set-provinces")
def users_set_provinces(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
    province: Annotated[list[str], typer.Option(help="The new province codes (repeatable); replaces the old ones")],
) -> None:
    """Replace the provinces an account works in; its current sign-ins end."""
    _change_user(username, provinces=province)


@users_app.command("deactivate")
def users_deactivate(username: Annotated[str, typer.Argument(help="Sign-in name")]) -> None:
    """Deactivate an account: it cannot sign in and its tokens stop working at once."""
    _change_user(username, is_active=False)


@users_app.command("reactivate")
def users_reactivate(username: Annotated[str, typer.Argument(help="Sign-in name")]) -> None:
    """Reactivate an account (the user signs in again)."""
    _change_user(username, is_active=True)


# --- incidents ------------------------------------------------------------------------------------
@incidents_app.command("import")
def incidents_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, GPX or KML")],
    commit: Annotated[bool, typer.Option(help="Store the incidents (default: dry run, report only)")] = False,
    kind: Annotated[str | None, typer.Option(help="Kind for rows without one")] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV encoding (default: UTF-8, else cp874)")] = None,
    confirm_outside_province: Annotated[bool, typer.Option(help="Accept points outside the province")] = False,
    reporter: Annotated[str, typer.Option(help="Recorded as the creator")] = "cli",
) -> None:
    """Check (and with --commit store, all or nothing) incidents from a file; prints a row-by-row report."""
    from geo_service.incidents.bulk import import_incidents  # shapely, pyproj: loaded by the one command using them

    with database() as db:
        principal = Principal(reporter, frozenset({Role.administrator}), display_name=reporter)
        with db.sessions() as session:
            tx = session.begin()
            report = import_incidents(
                session,
                file.read_bytes(),
                file.name,
                principal,
                dry_run=not commit,
                default_kind=kind,
                encoding=encoding,
                confirm_outside_province=confirm_outside_province,
            )
            tx.commit() if commit and not report.refused else tx.rollback()
    table = Table(title=f"{file.name}: {report.format}" + (f", {report.encoding}" if report.encoding else ""))
    for col in ("row", "status", "lat", "lon", "district", "reserve", "reason"):
        table.add_column(col)
    for r in report.rows:
        table.add_row(
            str(r.row), r.status, str(r.lat or ""), str(r.lon or ""), r.district or "", r.reserve or "", r.reason or ""
        )
    out.print(table)
    if report.refused:
        console.print(f"[red]{report.refused} rows refused: nothing stored.[/]")
        raise typer.Exit(code=1)
    console.print("stored" if commit else "dry run: nothing stored (add --commit to store)")


# --- audit ----------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Also check the trail against a checkpoint file written by `audit checkpoint`")
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain; exit 1 if any entry was edited, deleted or cut."""
    with database() as db, db.sessions() as session:
        result = audit.verify(session)
        if checkpoint is not None:
            result.problems += audit.verify_checkpoint(
                session, json.loads(checkpoint.read_text()), db.settings.jwt_secret()
            )
    out.print(f"entries: {result.entries}  head: {result.head}")
    for p in result.problems:
        out.print(f"[red]entry {p['id']}[/]: {p['problem']}")
    if not result.ok:
        raise typer.Exit(code=1)
    out.print("audit trail intact" + (f" and holds the head of {checkpoint}" if checkpoint else ""))


@audit_app.command("checkpoint")
def audit_checkpoint(
    output: Annotated[
        Path,
        typer.Option("--out", help="Where to write the signed checkpoint (JSON); keep it outside the database server"),
    ],
) -> None:
    """Write the chain's head (id, hash, entry count), signed with the service secret (HMAC-SHA256)."""
    with database() as db, db.sessions() as session:
        cp = audit.checkpoint(session, db.settings.jwt_secret())
    output.write_text(json.dumps(cp, indent=2, ensure_ascii=False) + "\n")
    out.print(
        f"checkpoint of entry {cp['head_id']} ({cp['entries']} entries, head {cp['head_hash']}) written to {output}"
    )


# --- serve / demo ---------------------------------------------------------------------------------
def _has_boundaries(url: URL | str) -> bool:
    with cli_sessionmaker(url)() as session:
        return layer_queries.has_boundaries(session)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    load_layers: Annotated[bool, typer.Option(help="Load the bundled layers into an empty database")] = True,
    keep_db: Annotated[bool, typer.Option(help="Leave the embedded PostgreSQL running on exit")] = False,
) -> None:
    """Run the API: start (and migrate) the database first; on an empty database load the bundled layers."""
    import uvicorn

    with database() as db, startup_lock(db.url):  # several processes starting at once load the layers once
        if load_layers and not _has_boundaries(db.url):
            _load_bundled(db.url)
    settings, started = db.settings, db.started
    host = host or settings.service.host
    port = port or settings.service.port
    console.print(f"Serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if settings.service.admin_token is None:
        console.print(f"Administrator token: in {settings.db.data_dir / 'admin_token'}")
    try:
        # the factory builds the app from the same environment (get_settings) in the server's process
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level="info")
    finally:
        if started and not keep_db:
            cluster(settings).stop()
            console.print("Embedded PostgreSQL stopped.")


@app.command()
def demo() -> None:
    """First run: start the database, migrate, load the bundled Phrae layers, and say what is there."""
    with database() as db:
        _load_bundled(db.url)
        with db.sessions() as session:
            counts = layer_queries.current_counts_by_level(session)
            pa = layer_queries.boundary_counts(session)["protected_areas"]
    for level, n in counts:
        out.print(f"{level}: {n}")
    out.print(f"protected areas (illustrative): {pa}")
    console.print("Next: geo-service serve")


# --- notebooks --------------------------------------------------------------------------------------
@notebooks_app.command("run")
def notebooks_run(
    name: Annotated[str, typer.Argument(help="Notebook in notebooks/ (e.g. fire_season_review)")],
    param: Annotated[
        list[str],
        typer.Option("--param", "-p", help="NAME=VALUE given to the notebook, e.g. REVIEW_DISTRICT=5406 (repeatable)"),
    ] = [],  # noqa: B006
    output: Annotated[Path | None, typer.Option(help="Executed copy (default: DATA_DIR/notebooks/NAME.ipynb)")] = None,
) -> None:
    """Start the database (the embedded one unless GEO_SERVICE_DATABASE_URL is set), then execute a notebook."""
    settings = get_settings()
    with command_errors():
        # The kernel runs in notebooks/: the data folder (the embedded cluster's port file and password) goes
        # to it as an absolute path, with the rest of this process's settings in the environment.
        parameters = {
            "GEO_SERVICE_DATA_DIR": str(settings.db.data_dir.resolve()),
            **dict(_split_param(p) for p in param),
        }
        url, _ = prepare_database(settings)
        if not _has_boundaries(url):
            _load_bundled(url)
        target = output or settings.db.data_dir / "notebooks" / f"{name.removesuffix('.ipynb')}.ipynb"
        with console.status(f"Running {name} ..."):
            notebook_runner.run_notebook(name, target, parameters)
    for line in notebook_runner.printed_lines(target):
        out.print(line, markup=False, highlight=False)
    console.print(f"Executed notebook (with its charts): {target}")


def _split_param(pair: str) -> tuple[str, str]:
    name, sep, value = pair.partition("=")
    if not sep or not name.strip():
        raise InvalidInput(f"--param '{pair}' is not NAME=VALUE.", code="invalid_param")
    return name.strip(), value


def main() -> None:  # pragma: no cover - entry point
    """Run the command line."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
