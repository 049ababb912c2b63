"""Backend configuration, from the environment (documented in docs/cloud.md)."""

from __future__ import annotations

import os
import secrets
import urllib.parse
from dataclasses import dataclass, field

from .. import store

LOCAL_ACCESS_KEY = "vpslog-local-key"
LOCAL_SECRET_KEY = "vpslog-local-secret"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _int(env, name: str, default: int, lo: int, hi: int) -> int:
    try:
        v = int(env.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be {lo} .. {hi}, got {v}")
    return v


@dataclass(frozen=True)
class Settings:
    endpoint: str | None            # S3/R2 endpoint; None = start a local one
    bucket: str = "vpslog"
    access_key_id: str = LOCAL_ACCESS_KEY
    secret_access_key: str = field(default=LOCAL_SECRET_KEY, repr=False)
    region: str = "auto"
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:5173", "http://localhost:5173")
    presign_ttl_s: int = 300
    # who may create runs (bearer tokens); empty = the API is open (local dev only)
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    # signs run capabilities; generated per process when unset (a restart invalidates them)
    run_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    run_secret_generated: bool = True
    run_token_ttl_s: int = 24 * 3600
    runs_per_hour: int = 120          # per API token
    presigns_per_minute: int = 600    # per run (retries presign afresh)
    max_parts_per_run: int = 10_000   # x 5 MiB = 50 GiB
    manifest_max_bytes: int = 16 << 20

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        s3 = store.s3_env(env)
        ttl = int(env.get("VPSLOG_PRESIGN_TTL_S", "300"))
        if not 1 <= ttl <= 7 * 24 * 3600:
            raise ValueError("VPSLOG_PRESIGN_TTL_S must be 1 s .. 7 days (the R2/S3 presign limits)")
        origins = tuple(o.strip() for o in env.get("VPSLOG_ALLOWED_ORIGINS", "").split(",") if o.strip())
        tokens = tuple(t.strip() for t in env.get("VPSLOG_API_TOKEN", "").split(",") if t.strip())
        if any(len(t) < 16 for t in tokens):
            raise ValueError("each VPSLOG_API_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        run_secret = env.get("VPSLOG_RUN_SECRET", "")
        if run_secret and len(run_secret) < 32:
            raise ValueError("VPSLOG_RUN_SECRET must be at least 32 characters")
        return cls(
            **s3,
            allowed_origins=origins or cls.allowed_origins,
            presign_ttl_s=ttl,
            api_tokens=tokens,
            **({"run_secret": run_secret.encode(), "run_secret_generated": False} if run_secret else {}),
            run_token_ttl_s=_int(env, "VPSLOG_RUN_TOKEN_TTL_S", cls.run_token_ttl_s, 60, 30 * 24 * 3600),
            runs_per_hour=_int(env, "VPSLOG_RUNS_PER_HOUR", cls.runs_per_hour, 1, 1_000_000),
            presigns_per_minute=_int(env, "VPSLOG_PRESIGNS_PER_MINUTE", cls.presigns_per_minute, 1, 1_000_000),
            max_parts_per_run=_int(env, "VPSLOG_MAX_PARTS_PER_RUN", cls.max_parts_per_run, 1, 999_999),
            manifest_max_bytes=_int(env, "VPSLOG_MANIFEST_MAX_BYTES", cls.manifest_max_bytes, 1024, 5 << 30),
        )

    @property
    def endpoint_is_local(self) -> bool:
        return self.endpoint is None or urllib.parse.urlsplit(self.endpoint).hostname in LOCAL_HOSTS

    def client(self, endpoint: str | None = None):
        """The store's client (``store.client``) for this bucket's endpoint, or another one (moto behind the gateway)."""
        return store.client(endpoint or self.endpoint, self.access_key_id, self.secret_access_key, self.region)
