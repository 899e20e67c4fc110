"""Configuration from the environment (prefix GEO_SERVICE_), one class per concern."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Thailand's extent with a small margin (lon/lat, EPSG:4326). Used to refuse data that is
# plainly outside the country; a finer check is the province layer once it is loaded.
THAILAND_BBOX = (97.3, 5.5, 105.7, 20.6)


class DatabaseSettings(BaseSettings):
    """Where the data lives: an external server, or the embedded project-local PostGIS."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS (postgresql+psycopg://...). "
        "Unset: the service runs its own cluster in data_dir.",
    )
    data_dir: Path = Field(default=Path("var"), description="Project-local state: database cluster, logs, secrets.")
    db_host: str = "127.0.0.1"
    db_port: int = Field(default=54329, ge=1024, le=65535)
    db_name: str = "geo_service"
    db_os_user: str = Field(
        default="postgres", description="Unprivileged OS user that runs the embedded cluster when started as root."
    )
    # Per worker (plus as many overflow connections): 50 concurrent clients need about 40 without churn.
    pool_size: int = Field(default=20, ge=1, le=200)

    @field_validator("database_url")
    @classmethod
    def _driver(cls, v: str | None) -> str | None:
        if v and v.startswith("postgresql://"):
            return "postgresql+psycopg://" + v.removeprefix("postgresql://")
        if v and v.startswith("postgres://"):
            return "postgresql+psycopg://" + v.removeprefix("postgres://")
        return v

    @property
    def embedded(self) -> bool:
        """Whether the project-local cluster is used (no database URL given)."""
        return not self.database_url


class ServiceSettings(BaseSettings):
    """The HTTP service and its security."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = Field(
        default=None,
        description="Bearer token of the bootstrap administrator. Generated into data_dir when unset outside production.",
    )
    layers_dir: Path | None = Field(
        default=None,
        description="Folder with the bundled layers' manifest.toml (default: layers/ of the source checkout)",
    )
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 signing key of access tokens; generated into data_dir when unset outside production",
    )
    token_minutes: int = Field(default=60, ge=5, le=24 * 60, description="Lifetime of an access token")
    password_hash_memory_kib: int = Field(
        default=65536, ge=1024, le=1 << 20, description="argon2id memory per password hash, KiB (default 64 MiB)"
    )
    password_hash_time_cost: int = Field(default=3, ge=1, le=10, description="argon2id passes per password hash")
    photo_max_mb: int = Field(default=20, ge=1, le=200, description="Largest accepted photo")
    photo_max_distance_m: float = Field(default=500, ge=0, description="Flag photos taken farther from the incident")
    photo_max_hours_before: float = Field(default=24, ge=0, description="Flag photos taken this long before it")
    photo_max_hours_after: float = Field(default=72, ge=0, description="Flag photos taken this long after it")
    max_upload_mb: int = Field(default=200, ge=1, le=4096)
    country_bbox: tuple[float, float, float, float] = THAILAND_BBOX
    timezone: str = "Asia/Bangkok"
    tile_url: str | None = Field(
        default=None,
        description="Base map tile URL for the maps ({z}/{x}/{y}); unset: "
        "no base map, so no request leaves the machine",
    )
    tile_attribution: str | None = Field(default=None, description="Credit shown for the tile_url base map")
    ogc_cors_origins: list[str] = Field(
        default=["*"],
        description="Web origins whose pages may read the OGC API's public collections (/ogc) "
        'from a browser (CORS), e.g. ["https://gis.example.go.th"]; ["*"]: any; []: none. Requests with an API '
        "key are never allowed cross-origin.",
    )

    @field_validator("admin_token", "jwt_secret")
    @classmethod
    def _strong(cls, v: str | None, info) -> str | None:
        minimum = 32 if info.field_name == "jwt_secret" else 24
        if v is not None and len(v) < minimum:
            raise ValueError(f"{info.field_name} must be at least {minimum} characters")
        return v

    @model_validator(mode="after")
    def _hash_cost(self) -> ServiceSettings:
        # OWASP's floor for argon2id is 19 MiB with 2 passes; cheaper hashes only speed up the test suite's
        # sign-ins (the same code path, smaller parameters), never a deployment.
        if self.environment != "test" and (self.password_hash_memory_kib < 19456 or self.password_hash_time_cost < 2):
            raise ValueError("password_hash_memory_kib >= 19456 and password_hash_time_cost >= 2 outside tests")
        return self


class AreaSettings(BaseSettings):
    """The deployment's area of interest: what its briefs, maps and summaries count (README, *Area of interest*)."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    aoi_provinces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Province codes of the area of interest, comma-separated (TH54 or 54); "
        "empty: every loaded province",
    )
    aoi_buffer_m: float = Field(
        default=0.0,
        ge=0,
        le=50_000,
        description="Buffer around those provinces (metres) for fires that cross the line; 0: the boundary itself",
    )

    @field_validator("aoi_provinces", mode="before")
    @classmethod
    def _codes(cls, v):
        if isinstance(v, str):
            v = v.split(",")
        codes = [str(c).strip() for c in v or [] if str(c).strip()]
        bad = [c for c in codes if not c.replace("-", "").replace("_", "").isalnum() or len(c) > 20]
        if bad:
            raise ValueError(f"aoi_provinces takes province codes such as TH54, not {bad[0]!r}")
        return sorted(set(codes))


class HotspotSettings(BaseSettings):
    """Satellite hotspots: FIRMS access, raster storage and limits, fire-event clustering."""

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
        """The folder of the registered COGs: ``raster_dir``, or ``rasters`` under the data directory."""
        return self.raster_dir or Path(data_dir) / "rasters"


class TileSettings(BaseSettings):
    """Vector tiles (OGC API - Tiles) and the committee maps' switch to them."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore", populate_by_name=True)

    tile_max_zoom: int = Field(default=22, ge=0, le=24, description="Deepest WebMercatorQuad tile matrix served")
    tile_max_features: int = Field(
        default=20_000, ge=1, le=1_000_000, description="Most features in one tile (layers beyond it are cut)"
    )
    tile_max_age_s: int = Field(default=300, ge=0, description="Cache-Control max-age of a tile and its metadata")
    map_tiles_above: int = Field(
        default=20_000,
        ge=0,
        description="The committee map draws detections as vector tiles when the period has more than this",
    )


class ReadReplicaSettings(BaseSettings):
    """Read routing: heavy read-only routes on a streaming replica (README, *Read replicas and several API
    processes*). Unset ``replica_url``: every request reads the primary, as before."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    replica_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a streaming (hot standby) replica of the database; unset: no read routing",
    )
    replica_max_lag_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="Reads go to the primary while the replica is further behind than this (seconds)",
    )
    replica_check_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long one look at the replica's position and lag is used before looking again (0: always)",
    )
    replica_retry_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="After the replica did not answer, read from the primary this long before trying it again",
    )
    replica_connect_timeout_s: int = Field(
        default=2, ge=1, le=60, description="Seconds to wait for a connection to the replica"
    )

    @field_validator("replica_url")
    @classmethod
    def _driver(cls, v: str | None) -> str | None:
        return DatabaseSettings._driver(v)


class BatchSettings(BaseSettings):
    """Batch work on Dask (issue 18): where the scheduler is, or how to size the local cluster."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore", populate_by_name=True)

    dask_scheduler: str | None = Field(
        default=None,
        description="Address of a Dask scheduler (tcp://dask-scheduler:8786); unset: a LocalCluster on this machine",
    )
    dask_workers: int | None = Field(
        default=None, ge=1, le=256, description="Workers of the local cluster (default: one per CPU core)"
    )
    dask_threads_per_worker: int = Field(default=1, ge=1, le=64, description="Threads of each local worker")
    dask_processes: bool = Field(
        default=True, description="Local workers in processes (default) or as threads of the command itself"
    )
    batch_part_delay_s: float = Field(
        default=0.0, ge=0, description="Test-only: wait this long before writing each part (to kill a job mid-way)"
    )


class ForestLossOutputSettings(BaseSettings):
    """Where forest-loss alerts show (issue 14): what may leave the service without a sign-in."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore", populate_by_name=True)

    forest_loss_public_aggregates: bool = Field(
        default=False,
        description="Publish the clearing per district and month (counts and areas, no patch geometry) as a public "
        "collection (forest_loss_by_district); off: staff and partner keys only",
    )


class CitizenSettings(BaseSettings):
    """Reports from the public and the volunteer network (README, *Reports from the public*)."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_CITIZEN_", extra="ignore")

    public_key: str | None = Field(
        default=None,
        description="Base64 Curve25519 public key that seals contact details (from `geo-service citizen keygen`); "
        "unset: derived from private_key_file",
    )
    private_key_file: Path | None = Field(
        default=None,
        description="File holding the investigators' private key (never in the database); "
        "default DATA_DIR/citizen_sealing.key, generated outside production",
    )
    reports_per_address_per_hour: int = Field(default=10, ge=1, le=10_000, description="Reports from one address")
    lookups_per_address_per_hour: int = Field(
        default=60, ge=1, le=100_000, description="Receipt look-ups and additions from one address (guessing)"
    )
    requests_per_receipt_per_hour: int = Field(default=30, ge=1, le=10_000, description="Look-ups of one receipt")
    additions_per_receipt_per_hour: int = Field(default=10, ge=1, le=10_000, description="Additions to one report")
    max_photos: int = Field(default=5, ge=0, le=20, description="Photos with one report or one addition")
    photo_max_mb_public: int = Field(default=10, ge=1, le=100, description="Largest photo from the public")
    duplicate_distance_m: float = Field(default=200, ge=0, le=10_000, description="Same place: within this distance")
    duplicate_hours: float = Field(default=6, ge=0, le=720, description="Same time: observed within this many hours")

    def key_file(self, data_dir: Path) -> Path:
        """Where the private key is (configured, or in the data folder)."""
        return self.private_key_file or data_dir / "citizen_sealing.key"


class Settings:
    """All settings, grouped by concern."""

    def __init__(self, **overrides):
        self.db = DatabaseSettings(**{k: v for k, v in overrides.items() if k in DatabaseSettings.model_fields})
        self.service = ServiceSettings(**{k: v for k, v in overrides.items() if k in ServiceSettings.model_fields})
        self.area = AreaSettings(**{k: v for k, v in overrides.items() if k in AreaSettings.model_fields})
        self.hotspots = HotspotSettings(**{k: v for k, v in overrides.items() if k in HotspotSettings.model_fields})
        self.tiles = TileSettings(**{k: v for k, v in overrides.items() if k in TileSettings.model_fields})
        self.replica = ReadReplicaSettings(
            **{k: v for k, v in overrides.items() if k in ReadReplicaSettings.model_fields}
        )
        self.partitions = PartitionSettings(
            **{k: v for k, v in overrides.items() if k in PartitionSettings.model_fields}
        )
        self.batch = BatchSettings(**{k: v for k, v in overrides.items() if k in BatchSettings.model_fields})
        self.forest_loss = ForestLossSettings(
            **{k: v for k, v in overrides.items() if k in ForestLossSettings.model_fields}
        )
        self.worker = WorkerSettings(**{k: v for k, v in overrides.items() if k in WorkerSettings.model_fields})
        self.forest_loss_output = ForestLossOutputSettings(
            **{k: v for k, v in overrides.items() if k in ForestLossOutputSettings.model_fields}
        )
        self.citizen = CitizenSettings(**{k: v for k, v in overrides.items() if k in CitizenSettings.model_fields})
        self.open_data = OpenDataSettings(**{k: v for k, v in overrides.items() if k in OpenDataSettings.model_fields})
        self.alerts = AlertSettings(
            **{k.removeprefix("alerts_"): v for k, v in overrides.items() if k.startswith("alerts_")}
        )
        self.red_flags = RedFlagSettings(**{k: v for k, v in overrides.items() if k in RedFlagSettings.model_fields})

    def admin_token(self) -> str:
        """The bootstrap admin token; outside production one is generated and kept in data_dir."""
        return self._secret(self.service.admin_token, "admin_token", "GEO_SERVICE_ADMIN_TOKEN")

    def jwt_secret(self) -> str:
        """The secret that signs access tokens (configured, or generated into the data folder)."""
        return self._secret(self.service.jwt_secret, "jwt_secret", "GEO_SERVICE_JWT_SECRET")

    def _secret(self, configured: str | None, filename: str, variable: str) -> str:
        if configured:
            return configured
        if self.service.environment == "production":
            raise RuntimeError(f"{variable} must be set in production")
        path = self.db.data_dir / filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment."""
    return Settings()


SESSION_KEY = "geo_service.settings"  # where a session carries its edge's Settings (``Session.info``)


def settings_of(session: Session) -> Settings:
    """The Settings of the edge that opened this session's transaction (the app factory, the worker, a command:
    ``db.engine.make_sessionmaker(engine, settings)`` puts them in every session it makes), so a listener or a
    service deep in a call uses the same thresholds as the route or job that started the work. A session made
    without settings (a bare sessionmaker in a script) gets the environment's, as the edge's default is."""
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Settings) else get_settings()


class PartitionSettings(BaseSettings):
    """Partitioned detections (migration 0021): yearly partitions created ahead, at start-up and by the worker."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_PARTITIONS_", extra="ignore", populate_by_name=True)

    ahead_years: int = Field(default=1, ge=0, le=10, description="Years of partitions kept ready after this one")
    ensure_at_startup: bool = Field(default=True, description="Create the partitions ahead when the app starts")
    bulk_min_bytes: int = Field(
        default=16 << 20,
        ge=0,
        description="A FIRMS file at least this large whose year holds no detections is loaded as its own table "
        "(COPY, keys and indexes built after, ATTACH PARTITION)",
    )
    bulk_lock_timeout_s: float = Field(
        default=5.0, gt=0, description="The bulk path waits this long for each lock of the attach, then re-runs as rows"
    )
    bulk_build_connections: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Connections that build a bulk-loaded year's keys and indexes at once (about the database's cores)",
    )


class ForestLossSettings(BaseSettings):
    """Forest-loss alert ingest (issue 14): size caps, the patch rule, "cleared by fire", the read window."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_FOREST_LOSS_", extra="ignore", populate_by_name=True)

    max_file_mb: int = Field(
        default=2048, ge=1, le=1_000_000, description="Largest alert file accepted (all layers together), checked first"
    )
    max_pixels: int = Field(
        default=2_000_000_000, ge=1, description="Largest window read (pixels): the area of interest of a tile"
    )
    window: int = Field(default=2048, ge=64, le=16384, description="Window size (pixels) the raster is read in")
    window_days: int = Field(default=30, ge=0, le=3660, description="Date window of the patch rule (days)")
    link_distance_m: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="Stored patches this near a new one (and within the date window) are "
        "extended by it, keeping their id",
    )
    fire_distance_m: float = Field(
        default=500.0,
        ge=0,
        le=10_000,
        description="Cleared by fire: a detection's pixel (its published position + half the sensor's pixel: VIIRS "
        "187.5 m, MODIS 500 m) or a fire event's footprint this near the patch",
    )
    fire_days_before: int = Field(
        default=60, ge=0, le=365, description="... from this many days before its first alert"
    )
    fire_days_after: int = Field(default=30, ge=0, le=365, description="... to this many days after its last alert")
    read_margin_m: float = Field(
        default=0.0, ge=0, le=100_000, description="Read the tile this far beyond the area of interest's bounds"
    )


class WorkerSettings(BaseSettings):
    """The worker process (``geo-service worker``, issue 16): which scheduled jobs run, how often, and what they
    pull (README, *The worker (scheduled pulls)*). Intervals in seconds."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_WORKER_", extra="ignore", populate_by_name=True)

    firms_enabled: bool = Field(default=True, description="Pull FIRMS NRT (needs GEO_SERVICE_FIRMS_MAP_KEY)")
    firms_sources: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["VIIRS_SNPP_NRT", "VIIRS_NOAA20_NRT", "VIIRS_NOAA21_NRT", "MODIS_NRT"],
        description="FIRMS sources pulled, comma-separated; one job each (firms_<source>)",
    )
    firms_bbox: str | None = Field(
        default=None, description="west,south,east,north pulled; unset: the area of interest's bounding box"
    )
    firms_interval_s: float = Field(default=900.0, gt=0, description="Seconds between FIRMS pulls (each source)")
    firms_initial_days: int = Field(default=2, ge=1, le=10, description="UTC days pulled by the very first run")
    firms_settle_hours: float = Field(
        default=6.0, ge=0, le=72, description="A UTC day stays open (pulled again each run) this long after it ends"
    )
    catchup_max_days: int = Field(
        default=14, ge=1, le=60, description="Missed days pulled after downtime, at most this many back from today"
    )
    events_enabled: bool = Field(default=True, description="Recluster recent detections into fire events")
    events_interval_s: float = Field(default=3600.0, gt=0)
    events_days: int = Field(default=3, ge=1, le=60, description="Days back from now the reclustering covers")
    partitions_enabled: bool = Field(default=True, description="Create the detections' partitions ahead")
    partitions_interval_s: float = Field(default=86_400.0, gt=0)
    batch_resume_enabled: bool = Field(default=True, description="Resume interrupted Dask batch jobs")
    batch_resume_interval_s: float = Field(default=1800.0, gt=0)
    batch_resume_idle_s: float = Field(
        default=1800.0, ge=0, description="A running batch job with no part done for this long counts as interrupted"
    )
    forest_loss_enabled: bool = Field(default=True, description="Pull published forest-loss alert tiles")
    forest_loss_source: str | None = Field(
        default=None, description="Folder or URL where the alert tiles are published; unset: no pull"
    )
    forest_loss_interval_s: float = Field(default=21_600.0, gt=0)
    forest_loss_glad_l_year: int | None = Field(
        default=None,
        ge=2015,
        le=2100,
        description="The year of the GLAD-L (UMD) tiles directly in <source>/glad_l_umd/ (their confYY, "
        "alertDateYY); tiles in a sub-folder named by the year (glad_l_umd/2025/) have that year",
    )
    job_timeout_s: float = Field(
        default=3600.0, gt=0, description="A run still 'running' after this long is reported as lost"
    )

    @field_validator("firms_sources", mode="before")
    @classmethod
    def _sources(cls, v):
        if isinstance(v, str):
            v = v.split(",")
        return [str(s).strip().upper() for s in v or [] if str(s).strip()]


OPEN_DATASETS = (
    "hotspots",
    "fire_events",
    "incidents_by_district_month",
    "clearing_by_district_month",
    "cases_by_stage_fiscal_year",
    "reference_layers",
    "committee_briefs",
)


class OpenDataSettings(BaseSettings):
    """The public transparency page ``/open`` and its open data (README, *Open data and the transparency page*)."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_OPEN_DATA_", extra="ignore", populate_by_name=True)

    threshold: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Counts of incidents and cases from 1 to threshold - 1 are published as '<threshold' "
        "(a small count could identify a case or a person); 1: nothing is suppressed",
    )
    datasets: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(OPEN_DATASETS),
        description="The datasets published, comma-separated (default: all of " + ", ".join(OPEN_DATASETS) + ")",
    )
    publisher_th: str = Field(default="สำนักงาน ป.ป.ช. ประจำจังหวัดแพร่", max_length=200)
    publisher_en: str = Field(default="NACC Phrae Provincial Office", max_length=200)
    licence_name: str = Field(
        default="Creative Commons Attribution 4.0 (CC BY 4.0)",
        max_length=200,
        description="The licence of the service's own tables (counts); hotspots and boundaries keep their own",
    )
    licence_url: str = Field(default="https://creativecommons.org/licenses/by/4.0/", max_length=500)

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets(cls, v):
        if isinstance(v, str):
            v = v.split(",")
        names = [str(n).strip() for n in v or [] if str(n).strip()]
        unknown = [n for n in names if n not in OPEN_DATASETS]
        if unknown:
            raise ValueError(f"unknown open dataset {unknown[0]!r}; choose among {', '.join(OPEN_DATASETS)}")
        return [n for n in OPEN_DATASETS if n in names]  # registry order, no duplicates


class AlertSettings(BaseSettings):
    """Alerts to people (issue 16): channels (SMTP, webhook, LINE), retries, digests, links (GEO_SERVICE_ALERTS_*).

    ``Settings(alerts_smtp_host=...)`` overrides a field in code (the tests), the environment does the same with
    ``GEO_SERVICE_ALERTS_SMTP_HOST``."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_ALERTS_", extra="ignore")

    public_url: str = Field(
        default="http://127.0.0.1:8000", description="The service's address as people open it (links in messages)"
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: e-mail alerts wait (reported)")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS (refused to send without it)")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle that signs the SMTP server's certificate (default: the system's)"
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="geo-service@localhost", description="The From address of alert e-mails")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the X-Geo-Signature header; unset: webhooks are not sent"
    )
    webhook_tries: int = Field(default=4, ge=1, le=10, description="Tries of one webhook call (back-off between)")
    webhook_backoff_s: float = Field(default=0.5, ge=0, le=60, description="First back-off; doubles each try")
    line_api_url: str = Field(default="https://api.line.me", description="LINE Messaging API base URL")
    line_channel_token: SecretStr | None = Field(
        default=None, description="LINE channel access token (Bearer); unset: LINE alerts are not sent"
    )
    timeout_s: float = Field(default=10, gt=0, le=120, description="Network timeout of one channel call")
    max_attempts: int = Field(default=5, ge=1, le=50, description="Sends of one alert before it is reported failed")
    retry_base_s: float = Field(default=60, ge=0, description="Wait before the next send after a failure; doubles")
    claim_lease_s: float = Field(
        default=300, ge=0, description="A claimed alert not marked sent after this long is sent again (worker died)"
    )
    batch_size: int = Field(default=500, ge=1, le=100_000, description="Alerts claimed per round of the sender")
    send_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds between the worker's runs of the sender (job alerts_send)"
    )
    max_age_hours: float = Field(
        default=72, ge=0, description="Detections older than this (acquisition time) at ingest alert nobody"
    )
    map_png: bool = Field(default=True, description="Attach a small static map (PNG) to e-mail and webhook alerts")
    crash_after_send: bool = Field(
        default=False, description="Test-only: the sender process dies after the first accepted send, before marking"
    )


class RedFlagSettings(BaseSettings):
    """Red flags on public money and public land (issue 15): each rule switchable, its thresholds."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_RED_FLAGS_", extra="ignore", populate_by_name=True)

    rule_fire_in_fire_contract: bool = Field(default=True, description="Fire inside a firebreak/fire-control area")
    rule_reforestation_loss: bool = Field(default=True, description="Fire or clearing on a reforestation plot")
    rule_outside_named_area: bool = Field(default=True, description="Contract area outside its named reserve/district")
    rule_double_payment: bool = Field(default=True, description="Overlapping paid contracts, same work, same year")
    rule_document_in_reserve: bool = Field(default=True, description="Land document issued inside a reserve/park")
    rule_cleared_before_issue: bool = Field(default=True, description="Parcel burned/cleared before its document")
    rule_recurrence: bool = Field(default=True, description="A reserve cell burning in several seasons")
    fire_min_detections: int = Field(default=1, ge=1, description="Detections inside a fire contract that flag it")
    fire_high_share: float = Field(
        default=0.10, ge=0, le=1, description="Burned share of the contracted area from which the flag is high"
    )
    protected_side_m: float = Field(
        default=1000.0, gt=0, description="How far beyond a firebreak a detection counts as the protected side"
    )
    reforestation_watch_years: int = Field(
        default=3, ge=0, le=30, description="Years after a reforestation contract's end that fire/clearing flags it"
    )
    vegetation_min_gain: float = Field(
        default=0.05,
        ge=-2,
        le=2,
        description="Mean index change (after - before, NDVI or NBR) below which a reforestation plot shows no "
        "vegetation gain and is flagged (from a registered index raster pair)",
    )
    vegetation_max_mb: int = Field(default=500, ge=1, description="Largest index raster accepted (MB per file)")
    outside_tolerance: float = Field(
        default=0.10, ge=0, le=1, description="Share of a contract area allowed outside its named reserve/district"
    )
    double_payment_min_share: float = Field(
        default=0.20, gt=0, le=1, description="Overlap (share of the smaller area) that makes two contracts double"
    )
    document_min_share: float = Field(
        default=0.01, gt=0, le=1, description="Share of a parcel inside a reserve/park that flags its document"
    )
    cleared_before_days: int = Field(
        default=365, ge=1, le=3650, description="Fire or clearing this many days before issue flags a document"
    )
    recurrence_seasons: int = Field(default=3, ge=2, le=50, description="Seasons a reserve cell must burn in")
    recurrence_cell_m: float = Field(default=500.0, gt=0, description="Recurrence grid cell (metres)")
    recurrence_srid: int = Field(default=32647, description="Projected CRS of the recurrence grid (UTM 47N)")
    season_first_month: int = Field(default=1, ge=1, le=12, description="First month of the fire season")
    season_last_month: int = Field(default=5, ge=1, le=12, description="Last month of the fire season")
    run_after_ingest: bool = Field(default=True, description="Run the rules after each hotspot ingest")
