"""All settings, read once from the environment (and an optional .env file) by pydantic-settings.

Nested groups map to variables with a double underscore: ``DB__URL``, ``REDIS__URL``, ``SAM__CHECKPOINT``.
Nothing else in MineLabel reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]

# Known-weak value shipped for development; production mode refuses to start with it.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105


class DatabaseSettings(BaseModel):
    url: str = "postgresql+psycopg://minelabel@127.0.0.1:55432/minelabel"
    pool_size: int = Field(default=5, ge=1)
    echo: bool = False


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:56379/0"


class StorageSettings(BaseModel):
    """Where images live: a local folder, or an S3-compatible object store (several machines)."""

    backend: Literal["local", "s3"] = "local"
    # Local files; with S3 it still holds the staging area of uploads on the API machine.
    data_dir: Path = REPO_ROOT / ".data" / "files"
    s3_bucket: str = "minelabel"
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None  # e.g. http://minio:9000; None means AWS
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    # An upload's staging folder in which nothing was written for this long is abandoned (its API process
    # was killed) and swept, at start-up and with each new upload.
    staging_max_idle_s: float = Field(default=3600, gt=0)


class SecuritySettings(BaseModel):
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # Off by default: admins create accounts. When on, anyone who reaches the API may make one.
    allow_signup: bool = False
    session_hours: float = Field(default=24 * 7, gt=0, description="A browser session's lifetime.")
    # Send the session cookie over HTTPS only; on behind TLS (production), off for http://localhost.
    cookie_secure: bool = False
    # Failed sign-ins per email (and per client address) within the window before 429.
    sign_in_max_failures: int = Field(default=5, ge=1)
    sign_in_window_s: int = Field(default=15 * 60, ge=1)
    # Addresses (or networks, 10.0.0.0/8) of the reverse proxies whose X-Forwarded-For / -Proto the API
    # believes, as a JSON list (SECURITY__TRUSTED_PROXIES='["10.0.0.5"]'). Empty: the header is ignored,
    # so a client cannot forge its address past the per-address sign-in limit. uvicorn's own trust
    # (127.0.0.1 by default) is always off: this setting is the only one.
    trusted_proxies: list[str] = Field(default_factory=list)
    # How long a tile or thumbnail read reuses an earlier permission decision (0: never).
    access_cache_s: float = Field(default=30, ge=0)


class ReviewSettings(BaseModel):
    # How long "next task" reserves a task for an annotator; saves and heartbeats renew it.
    lease_minutes: float = Field(default=60, gt=0)


class AdminSettings(BaseModel):
    """The first admin account, created at start-up when no user exists."""

    email: str = "admin@minelabel.local"
    # Empty means: generate a random password and print it once.
    password: SecretStr = SecretStr("")


class SamSettings(BaseModel):
    """Segment Anything (docs/adr/2026-12-01-sam-encoder-on-gpu-workers-decoder-in-onnx.md)."""

    # A checkpoint file the operator downloaded (vit_b, vit_l or vit_h); read by the GPU workers only.
    checkpoint: Path | None = None
    # "auto": read the architecture from the checkpoint's weights (also works for small test models).
    model_type: Literal["auto", "vit_h", "vit_l", "vit_b"] = "auto"
    # Windows are cut at this zoom: 1024 / zoom source pixels become SAM's 1024 px input, so that small
    # pits at 10 m resolution are several encoder patches wide; plus one full-frame pass for Outlines.
    zoom: float = Field(default=2.0, ge=1.0, le=8.0)
    # Overlap of neighbouring windows, in source pixels (a prompt near an edge still has context).
    overlap_px: int = Field(default=128, ge=0)
    # Windows encoded per forward pass on a GPU (1 on a CPU).
    batch_size: int = Field(default=8, ge=1, le=64)
    # "auto": CUDA when the worker has it, else the CPU (slow, but the same results).
    device: Literal["auto", "cuda", "cpu"] = "auto"
    # Polygons from masks: parts smaller than this are dropped; simplified within this many pixels.
    min_area_px: float = Field(default=16.0, ge=0)
    simplify_px: float = Field(default=1.0, ge=0)
    # Hover maps: each window's masks of a grid of this many points per side, decoded with its embedding, so
    # that the browser previews the mask under the pointer at once (0: none; the tool then decodes every
    # hover). docs/adr/2026-12-03-sam-hover-previews-from-a-point-grid.md
    hover_points_per_side: int = Field(default=32, ge=0, le=64)
    # Embeddings (float32 in memory) the API keeps for prompt decoding, per process.
    decoder_cache_windows: int = Field(default=64, ge=1)
    # Batch pre-labels: a points_per_side^2 point grid per window, and SAM's quality thresholds.
    points_per_side: int = Field(default=16, ge=1, le=64)
    pred_iou_thresh: float = Field(default=0.88, ge=0, le=1)
    stability_score_thresh: float = Field(default=0.92, ge=0, le=1)
    box_nms_thresh: float = Field(default=0.7, ge=0, le=1)


class TrainSettings(BaseModel):
    """Retraining the segmentation model (docs/adr/2026-12-01-retraining-plain-pytorch-in-a-subprocess.md)."""

    # GPUs one training uses on its worker; more than 1 runs the training under torchrun (DDP).
    devices: int = Field(default=1, ge=1, le=64)
    # "auto": CUDA when the worker has it, else the CPU (slow, but the same code path).
    device: Literal["auto", "cuda", "cpu"] = "auto"
    # Data-loader processes per training process (0: load chips in the training process itself).
    num_workers: int = Field(default=2, ge=0, le=64)
    # Local files of encoder weights (a state dict of the encoder), by encoder name; never downloaded.
    encoder_weights_dir: Path | None = None
    # Prediction: tiles of this size with this overlap, blended; flip averaging; polygons from masks.
    predict_tile: int = Field(default=512, ge=32, le=4096)
    predict_overlap: int = Field(default=64, ge=0)
    predict_batch_size: int = Field(default=4, ge=1, le=256)
    flip_tta: bool = True
    sieve_px: int = Field(default=16, ge=0)
    min_area_px: float = Field(default=16.0, ge=0)
    simplify_px: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _overlap_within_tile(self) -> TrainSettings:
        if self.predict_overlap * 2 >= self.predict_tile:
            raise ValueError(
                f"TRAIN__PREDICT_OVERLAP ({self.predict_overlap}) must be under half of "
                f"TRAIN__PREDICT_TILE ({self.predict_tile})"
            )
        return self


class LimitSettings(BaseModel):
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1, description="Per file.")
    max_files_per_upload: int = Field(default=200, ge=1)
    max_image_pixels: int = Field(default=40_000 * 40_000, ge=1, description="Width x height.")
    max_image_bands: int = Field(default=13, ge=1)
    max_polygon_vertices: int = Field(default=100_000, ge=3)
    # All regions of one annotation together: the whole state travels in every save and in a 409, so
    # its size bounds how long one request can hold a worker (a 2-million-vertex save took 25 s).
    max_annotation_vertices: int = Field(default=200_000, ge=3)
    # Request bodies, checked before parsing (app.api.body_limit): saves and region edits carry geometry
    # (200,000 vertices are about 5 MB of JSON); every other JSON body is a name, a setting or a config.
    max_annotation_body_bytes: int = Field(default=16 * 1024**2, ge=1024)
    max_body_bytes: int = Field(default=1024**2, ge=1024)
    max_import_bytes: int = Field(
        default=50 * 1024**2, ge=1, description="A Label Studio or GIS file to import."
    )


class TileSettings(BaseModel):
    # Rendered tiles kept in memory per API process (bytes); 0 turns the cache off.
    cache_bytes: int = Field(default=256 * 1024**2, ge=0)
    jpeg_quality: int = Field(default=85, ge=1, le=100)
    max_age_s: int = Field(default=365 * 24 * 3600, ge=0)
    # Pixel tiles of the lowest zooms rendered at ingest and served as stored bytes, at most this many per
    # format (PNG, JPEG) and image: zooms 0-3 of a square image (1 + 4 + 16 + 64); a 1000 x 1000 image has
    # 21 in all. 0: none (every tile renders on request).
    pyramid_max_tiles: int = Field(default=85, ge=0)
    # How long an API process reuses what a tile needs from the database (the observation's file, bands and
    # display ranges) for one render version; a new version (a changed preset or stretch) reads it again.
    source_cache_s: float = Field(default=30, ge=0)


class WorkerSettings(BaseModel):
    # How long /api/health waits for a worker to answer a ping.
    ping_timeout_s: float = Field(default=1.0, gt=0)
    # GPUs a `gpu` worker takes one job each on; None: those nvidia-smi lists (0 without a GPU: 1 process).
    gpus: int | None = Field(default=None, ge=0)


class JobSettings(BaseModel):
    """Job lifetimes (docs/adr/2026-12-01-job-lifetimes-lease-heartbeat-reaper.md)."""

    # A running job's attempt renews its lease this often, from a thread, whatever the job is doing.
    heartbeat_s: float = Field(default=10.0, gt=0)
    # A lease not renewed for this long is dead: the reaper re-queues the job.
    lease_s: float = Field(default=60.0, gt=0)
    # How often Celery beat runs the reaper.
    reap_interval_s: float = Field(default=15.0, gt=0)
    # Attempts of a job (deliveries that started it: lost workers and transient errors count).
    max_attempts: int = Field(default=3, ge=1, le=100)
    # Backoff before retrying after a transient error (doubles per attempt, at most the maximum).
    retry_backoff_s: float = Field(default=5.0, ge=0)
    retry_backoff_max_s: float = Field(default=300.0, ge=0)
    # A queued job that the broker no longer holds after this long is sent again (Redis lost it).
    resend_after_s: float = Field(default=60.0, gt=0)
    # Each attempt's own scratch folder lives under this folder, on the machine that runs it.
    scratch_dir: Path = REPO_ROOT / ".data" / "scratch"
    # At most this often does a job write its progress to the database (the last report always lands).
    progress_interval_s: float = Field(default=0.5, ge=0)
    # Where Celery beat remembers when it last ran the reaper (losing it is harmless).
    beat_schedule_file: Path = REPO_ROOT / ".data" / "celerybeat-schedule"

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> JobSettings:
        if self.lease_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"JOBS__LEASE_S ({self.lease_s}) must be at least twice JOBS__HEARTBEAT_S "
                f"({self.heartbeat_s}), or a healthy job's lease expires between two heartbeats"
            )
        return self


class MapSettings(BaseModel):
    """The labeling view's basemap under georeferenced images (an XYZ tile URL in Web Mercator)."""

    basemap_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="XYZ template with {z}, {x}, {y}; empty: no basemap. Its origin is allowed in the CSP.",
    )
    basemap_attribution: str = "© OpenStreetMap contributors"

    @field_validator("basemap_url")
    @classmethod
    def _xyz_template(cls, value: str) -> str:
        if value and (
            not value.startswith(("https://", "http://"))
            or not all(p in value for p in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError(
                "MAP__BASEMAP_URL must be an http(s) XYZ template with {z}, {x} and {y} "
                "(e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png), or empty for no basemap"
            )
        return value

    @property
    def basemap_origin(self) -> str | None:
        if not self.basemap_url:
            return None
        parts = urlsplit(self.basemap_url)
        return f"{parts.scheme}://{parts.netloc}"


class DevSettings(BaseModel):
    """Where `make run` keeps the PostGIS and Redis it starts itself (not used in production)."""

    data_dir: Path = REPO_ROOT / ".data"
    pg_port: int = 55432
    redis_port: int = 56379
    database: str = "minelabel"
    worker_concurrency: int = Field(default=2, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    mode: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    db: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    storage: StorageSettings = StorageSettings()
    security: SecuritySettings = SecuritySettings()
    admin: AdminSettings = AdminSettings()
    review: ReviewSettings = ReviewSettings()
    sam: SamSettings = SamSettings()
    train: TrainSettings = TrainSettings()
    limits: LimitSettings = LimitSettings()
    tiles: TileSettings = TileSettings()
    worker: WorkerSettings = WorkerSettings()
    jobs: JobSettings = JobSettings()
    map: MapSettings = MapSettings()
    dev: DevSettings = DevSettings()

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.mode == "production":
            secret = self.security.secret_key.get_secret_value()
            if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
                raise ValueError(
                    "MODE=production needs SECURITY__SECRET_KEY set to a random value of at least 32 "
                    "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read on first use."""
    return Settings()
