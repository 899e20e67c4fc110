"""`geo-service redflags ...`: load contracts and land documents, run the red-flag rules now."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service.auth import Principal, Role
from geo_service.cli_support import console, database
from geo_service.db.engine import transaction
from geo_service.redflags import service

redflags_app = typer.Typer(help="Red flags on public money and public land.", no_args_is_help=True)
CLI = Principal("cli", frozenset({Role.administrator}))


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        target, sep, column = p.partition("=")
        if not sep or not target or not column:
            raise typer.BadParameter(f"--field takes TARGET=COLUMN, e.g. contract_number=EGP_NO (got {p!r})")
        out[target.strip()] = column.strip()
    return out


def _load(kind: str, file: Path, field: list[str] | None, layer, encoding, crs, version) -> None:
    with database() as db, transaction(db.sessions) as session:
        out = service.load_file(
            session,
            kind,
            file,
            db.settings.red_flags,
            CLI,
            fields=_fields(field or []),
            layer=layer,
            encoding=encoding,
            crs=crs,
            source_version=version,
        )
    console.print(
        f"{out['features']} {kind}: {out['inserted']} new, {out['updated']} changed, {out['unchanged']} unchanged "
        f"({out['driver']}, {out['source_crs']})"
    )
    for r in out["rules"]:
        console.print(f"  {r['rule']}: {r['found']} flags ({r['new']} new, {r['changed']} changed, {r['gone']} gone)")


FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, help="GeoPackage, zipped Shapefile, GeoJSON or CSV with WKT")
]
FieldOpt = Annotated[list[str] | None, typer.Option(help="TARGET=COLUMN, repeatable")]
LayerOpt = Annotated[str | None, typer.Option(help="Layer inside a GeoPackage")]
EncodingOpt = Annotated[str | None, typer.Option(help="Text encoding of a Shapefile or CSV, e.g. cp874")]
CrsOpt = Annotated[str | None, typer.Option(help="CRS of a CSV's WKT column, e.g. EPSG:32647 (default 4326)")]
VersionOpt = Annotated[str | None, typer.Option(help="Version of this release of the file")]


@redflags_app.command("load-contracts")
def load_contracts(
    file: FileArg,
    field: FieldOpt = None,
    layer: LayerOpt = None,
    encoding: EncodingOpt = None,
    crs: CrsOpt = None,
    version: VersionOpt = None,
) -> None:
    """Load public-works contracts (upsert by contract number; all or nothing), then run the rules."""
    _load("contracts", file, field, layer, encoding, crs, version)


@redflags_app.command("load-parcels")
def load_parcels(
    file: FileArg,
    field: FieldOpt = None,
    layer: LayerOpt = None,
    encoding: EncodingOpt = None,
    crs: CrsOpt = None,
    version: VersionOpt = None,
) -> None:
    """Load land-document parcels (confidential; upsert by document type and number), then run the rules."""
    _load("parcels", file, field, layer, encoding, crs, version)


@redflags_app.command("run")
def run(rule: Annotated[list[str] | None, typer.Option(help="Only this rule (repeatable)")] = None) -> None:
    """Run the red-flag rules now (every enabled rule by default)."""
    with database() as db, transaction(db.sessions) as session:
        out = service.run_now(session, db.settings.red_flags, CLI, rule or None)
    for r in out:
        console.print(
            f"{r['rule']:<24} {r['found']:>7} flags  {r['new']} new, {r['changed']} changed, {r['gone']} gone"
            f"  ({r['seconds']} s)"
        )


@redflags_app.command("vegetation")
def vegetation(
    before: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Index GeoTIFF before (any CRS)")],
    after: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Index GeoTIFF after (any CRS)")],
    index: Annotated[str, typer.Option(help="ndvi or nbr")] = "ndvi",
    before_date: Annotated[str | None, typer.Option(help="Date of the before image (YYYY-MM-DD)")] = None,
    after_date: Annotated[str | None, typer.Option(help="Date of the after image (YYYY-MM-DD)")] = None,
) -> None:
    """Measure the mean index change inside every reforestation plot, store it, and re-run reforestation_loss."""
    from datetime import date

    try:
        days = [date.fromisoformat(d) if d else None for d in (before_date, after_date)]
    except ValueError:
        raise typer.BadParameter("Dates are YYYY-MM-DD, e.g. 2025-03-10.") from None
    with database() as db, transaction(db.sessions) as session:
        out = service.vegetation(
            session, before, after, index, db.settings.red_flags, CLI, before_date=days[0], after_date=days[1]
        )
    console.print(
        f"{out['plots']} reforestation plots: {out['measured']} measured ({out['not_covered']} not covered), "
        f"{out['no_gain']} with a mean {out['index'].upper()} change below {out['min_gain']}"
    )
    for r in out["results"]:
        console.print(
            f"  contract {r['contract_id']}: {r['before_mean']:.3f} -> {r['after_mean']:.3f} "
            f"(change {r['change']:+.3f}, {r['pixels']} pixels)"
        )
