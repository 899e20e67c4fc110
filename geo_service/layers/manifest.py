"""The reference layers shipped in ``layers/`` (listed in layers/manifest.toml) and how to load them."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from geo_service.errors import NotFound
from geo_service.layers.load import load_file
from geo_service.layers.store import LayerMeta, LoadReport

DEFAULT_LAYERS_DIR = Path(__file__).resolve().parents[2] / "layers"


@dataclass
class BundledLayer:
    """One entry of layers/manifest.toml: the file, its layer type and the metadata it is loaded with."""

    name: str
    file: Path
    type: str
    version: str
    source: str
    licence: str
    attribution: str
    title: str | None = None
    illustrative: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    def meta(self, loaded_by: str | None = None) -> LayerMeta:
        """The metadata a load of this layer records."""
        return LayerMeta(
            name=self.name,
            version=self.version,
            source=self.source,
            licence=self.licence,
            attribution=self.attribution,
            title=self.title,
            illustrative=self.illustrative,
            loaded_by=loaded_by,
        )


def bundled_layers(layers_dir: Path = DEFAULT_LAYERS_DIR) -> list[BundledLayer]:
    """The layers listed in ``layers_dir``/manifest.toml, in load order."""
    manifest = layers_dir / "manifest.toml"
    if not manifest.exists():
        raise NotFound(f"No layer manifest at {manifest}; set GEO_SERVICE_LAYERS_DIR to the project's layers/ folder.")
    entries = tomllib.loads(manifest.read_text(encoding="utf-8"))["layer"]
    return [BundledLayer(**{**e, "file": layers_dir / e["file"]}) for e in entries]


def load_bundled(
    session: Session,
    layers_dir: Path = DEFAULT_LAYERS_DIR,
    *,
    loaded_by: str | None = "bundled",
    progress: Callable[[BundledLayer], None] | None = None,
) -> list[LoadReport]:
    """Load every bundled layer in the caller's transaction (idempotent: a second run changes nothing)."""
    reports = []
    for layer in bundled_layers(layers_dir):
        if progress:
            progress(layer)
        reports.append(load_file(session, layer.file, layer.type, layer.meta(loaded_by), fields=layer.fields))
    return reports
