"""`geo-service maps ...`: maps written to files that open with no server and no internet."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from geo_service.auth import Principal, Role
from geo_service.cli_support import cli_sessionmaker, command_errors, prepare_database
from geo_service.maps.period import choose_period
from geo_service.settings import get_settings

app = typer.Typer(help="Committee maps as self-contained HTML files.", no_args_is_help=True)


@app.command("overview")
def overview_file(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="HTML file to write")],
    start: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    fiscal_year_be: Annotated[
        int | None, typer.Option(help="Thai fiscal year in BE, e.g. 2569 (default: the latest with data)")
    ] = None,
    photos_url: Annotated[
        str | None,
        typer.Option(help="Base URL of this service for photo thumbnails (default: no thumbnails in the file)"),
    ] = None,
    outside_aoi: Annotated[
        bool,
        typer.Option(
            "--outside-aoi",
            help="Add the detections outside the area of interest as a separate layer, hidden until switched on",
        ),
    ] = False,
) -> None:
    """Write the overview map (no cases: a file leaves the service's access control) with its Leaflet files
    copied into FILE_files/ beside it."""
    from geo_service.maps import assets, overview  # folium: loaded when a map is made, not at every command's start

    settings = get_settings()
    with command_errors(ValueError):  # ValueError: a day that is not YYYY-MM-DD
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
        choose_period(first, last, fiscal_year_be)  # the web route's check: a wrong value stops here
        url, _ = prepare_database(settings)
        with cli_sessionmaker(url)() as session:
            # the committee's view (descriptions, no reporter names); no cases
            period, _ = overview.choose(session, first, last, fiscal_year_be)  # default: the latest with data
            committee = Principal("cli", frozenset({Role.committee_member}))
            m = overview.overview(
                session,
                period,
                principal=committee,
                cases=None,
                tile_url=settings.service.tile_url,
                tile_attribution=settings.service.tile_attribution,
                photo_base=photos_url.rstrip("/") if photos_url else None,
                outside_aoi=outside_aoi,
            )
            html = overview.render(m, settings.service.tile_url)
    folder = out.with_name(out.stem + "_files")
    html = assets.copy_assets(html, folder, folder.name)
    out.write_text(html, encoding="utf-8")
    typer.echo(f"{out} ({len(html.encode()) / 1e6:.2f} MB) and {folder}/ for {period.label_en}")
