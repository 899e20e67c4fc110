"""`geo-service citizen ...`: the sealing key of the public's contact details."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service import cli_support
from geo_service.citizen import sealing

citizen_app = typer.Typer(help="Reports from the public: the investigators' sealing key.", no_args_is_help=True)


@citizen_app.command("keygen")
def keygen(
    key_file: Annotated[
        Path | None,
        typer.Option(help="Where to write the private key (default GEO_SERVICE_CITIZEN_PRIVATE_KEY_FILE)"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing key (reports sealed to it can then no longer be opened)")
    ] = False,
) -> None:
    """Make the key pair that seals contact details: the private key goes to a file (mode 0600, never into the
    database); the public key is printed for GEO_SERVICE_CITIZEN_PUBLIC_KEY."""
    settings = cli_support.get_settings()
    path = key_file or settings.citizen.key_file(settings.db.data_dir)
    with cli_support.command_errors():
        public = sealing.generate_keypair(path, overwrite=overwrite)
    cli_support.console.print(f"Private key written to {path} (keep it off the database server's backups).")
    cli_support.out.print(f"GEO_SERVICE_CITIZEN_PUBLIC_KEY={public}", markup=False, highlight=False)


@citizen_app.command("public-key")
def public_key() -> None:
    """Print the public key of the configured private key file."""
    settings = cli_support.get_settings()
    with cli_support.command_errors():
        key = sealing.load_private_key(settings.citizen.key_file(settings.db.data_dir)).public_key
    cli_support.out.print(
        f"GEO_SERVICE_CITIZEN_PUBLIC_KEY={sealing.public_key_text(key)}", markup=False, highlight=False
    )
