"""Hotspot settings from the environment (prefix GEO_SERVICE_), kept with the capability that uses them."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HotspotSettings(BaseSettings):
    """FIRMS access, raster storage and limits, fire-event clustering."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore", populate_by_name=True)

    firms_map_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GEO_SERVICE_FIRMS_MAP_KEY", "FIRMS_MAP_KEY", "MAP_KEY"),
        description="Personal FIRMS MAP_KEY for the area API",
    )
    firms_url: str = Field(default="https://firms.modaps.eosdis.nasa.gov", description="Base address of the FIRMS API")
    firms_min_free_transactions: int = Field(default=5, ge=0, description="Stop before the quota is this close")
    firms_max_attempts: int = Field(default=5, ge=1, le=20)
    firms_backoff_s: float = Field(default=2.0, ge=0, description="First wait between retries (doubles each time)")
    raster_dir: Path | None = Field(default=None, description="Where COGs are stored (default <data_dir>/rasters)")
    raster_max_pixels: int = Field(default=400_000_000, ge=1, description="Largest width x height x bands accepted")
    event_distance_m: float = Field(default=1000.0, gt=0, description="VIIRS detections this close (metres) ...")
    event_modis_distance_m: float = Field(
        default=2000.0, gt=0, description="MODIS detections (1 km pixels) this close (metres) ..."
    )
    event_gap_days: float = Field(default=2.0, gt=0, description="... and this close in time (days) form one event")

    def raster_store(self, data_dir: Path) -> Path:
        return self.raster_dir or Path(data_dir) / "rasters"
