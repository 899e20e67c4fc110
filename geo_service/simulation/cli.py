"""`geo-service simulate ...`: seeded national boundaries and detection archives written to files."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer

from geo_service.cli_support import command_errors, console, out

app = typer.Typer(
    help="SIMULATED national data for benchmarks and tests: boundaries, FIRMS detection archives.",
    no_args_is_help=True,
)


def parse_years(value: str) -> tuple[int, int]:
    """'2012-2026' -> (2012, 2026); '2020' -> (2020, 2020)."""
    m = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", value)
    if not m:
        raise typer.BadParameter(f"{value!r} is not a year range like 2012-2026 (Gregorian years)")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 2001 <= first <= last <= 2100:
        raise typer.BadParameter(f"{value!r}: give years 2001..2100, the first not after the last")
    return first, last


def _size(paths: list[Path]) -> str:
    return f"{sum(p.stat().st_size for p in paths) / 1e6:,.1f} MB"


@app.command("boundaries")
def boundaries(
    out_dir: Annotated[Path, typer.Argument(file_okay=False, help="Folder to write the layers and manifest.toml")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same layers")] = 0,
    scale: Annotated[str, typer.Option(help="national (77/928/7,400) or small (5/40/300): the default counts")] = (
        "national"
    ),
    provinces: Annotated[int | None, typer.Option(min=1, max=99, help="Number of provinces")] = None,
    districts: Annotated[int | None, typer.Option(min=1, help="Number of districts")] = None,
    subdistricts: Annotated[int | None, typer.Option(min=1, help="Number of subdistricts")] = None,
    protected_share: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of the country in protected areas (0: none)")
    ] = 0.3,
    fmt: Annotated[str, typer.Option("--format", help="gpkg or geojson")] = "gpkg",
) -> None:
    """Write SIMULATED nested provinces / districts / subdistricts (and protected areas) over Thailand's outline.

    Load them with: geo-service layers load-bundled --layers-dir OUT_DIR
    """
    from geo_service.simulation.boundaries import SCALES, simulate_boundaries, write_boundaries

    if scale not in SCALES:
        raise typer.BadParameter(f"--scale must be {' or '.join(SCALES)}, not {scale!r}")
    if fmt not in ("gpkg", "geojson"):
        raise typer.BadParameter(f"--format must be gpkg or geojson, not {fmt!r}")
    counts = SCALES[scale]
    provinces = provinces or counts["provinces"]
    districts = districts or counts["districts"]
    subdistricts = subdistricts or counts["subdistricts"]
    with command_errors(ValueError, FileNotFoundError):
        t0 = time.perf_counter()
        with console.status("Generating boundaries ..."):
            result = simulate_boundaries(
                seed,
                provinces=provinces,
                districts=districts,
                subdistricts=subdistricts,
                protected_share=protected_share or None,
            )
            files = write_boundaries(result, out_dir, fmt=fmt)
    pa = result.protected_areas
    out.print(
        f"{len(result.provinces)} provinces, {len(result.districts)} districts, {len(result.subdistricts)} "
        f"subdistricts, {0 if pa is None else len(pa)} protected areas (seed {seed}) in "
        f"{time.perf_counter() - t0:.1f} s: {len(files)} files, {_size(files)} in {out_dir}"
    )
    out.print(f"Load them with: geo-service layers load-bundled --layers-dir {out_dir}")


@app.command("detections")
def detections(
    out_dir: Annotated[Path, typer.Argument(file_okay=False, help="Folder to write the archive to")],
    rows: Annotated[int, typer.Option(min=0, help="Number of detections in all")] = 1_000_000,
    years: Annotated[str, typer.Option(help="Years, e.g. 2012-2026")] = "2012-2026",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same rows")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet (GeoParquet by month) or csv (FIRMS by year)")] = (
        "parquet"
    ),
    chunk_rows: Annotated[int, typer.Option(min=1000, help="Rows generated at a time (bounds memory)")] = 1_000_000,
    processing: Annotated[str, typer.Option(help="SP (archive) or NRT, for the FIRMS version column")] = "SP",
) -> None:
    """Write a SIMULATED FIRMS detection archive (MODIS + VIIRS, Thai fire seasons) as GeoParquet or FIRMS CSV."""
    from geo_service.simulation.detections import simulate_detections, write_csv, write_parquet

    span = parse_years(years)
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter(f"--format must be parquet or csv, not {fmt!r}")
    if processing.upper() not in ("SP", "NRT"):
        raise typer.BadParameter(f"--processing must be SP or NRT, not {processing!r}")
    with command_errors(ValueError, FileNotFoundError):
        t0 = time.perf_counter()
        chunks = simulate_detections(rows, span, seed=seed, chunk_rows=chunk_rows, processing=processing.upper())
        with console.status(f"Generating {rows:,} detections ..."):
            files = write_csv(chunks, out_dir) if fmt == "csv" else write_parquet(chunks, out_dir)
    dt = time.perf_counter() - t0
    out.print(
        f"{rows:,} detections {span[0]}-{span[1]} (seed {seed}) in {dt:.1f} s ({rows / max(dt, 1e-9):,.0f} rows/s, "
        f"generation and writing): {len(files)} files, {_size(files)} in {out_dir}"
    )
