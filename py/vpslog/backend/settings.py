"""Backend configuration, from the environment (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

LOCAL_ACCESS_KEY = "vpslog-local-key"
LOCAL_SECRET_KEY = "vpslog-local-secret"


@dataclass(frozen=True)
class Settings:
    endpoint: str | None            # S3/R2 endpoint; None = start a local one
    bucket: str = "vpslog"
    access_key_id: str = LOCAL_ACCESS_KEY
    secret_access_key: str = field(default=LOCAL_SECRET_KEY, repr=False)
    region: str = "auto"
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:5173", "http://localhost:5173")
    presign_ttl_s: int = 300

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        endpoint = env.get("VPSLOG_S3_ENDPOINT") or None
        if endpoint and not (env.get("VPSLOG_S3_ACCESS_KEY_ID") and env.get("VPSLOG_S3_SECRET_ACCESS_KEY")):
            raise ValueError("VPSLOG_S3_ENDPOINT is set: VPSLOG_S3_ACCESS_KEY_ID and VPSLOG_S3_SECRET_ACCESS_KEY are required")
        ttl = int(env.get("VPSLOG_PRESIGN_TTL_S", "300"))
        if not 1 <= ttl <= 7 * 24 * 3600:
            raise ValueError("VPSLOG_PRESIGN_TTL_S must be 1 s .. 7 days (the R2/S3 presign limits)")
        origins = tuple(o.strip() for o in env.get("VPSLOG_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            endpoint=endpoint,
            bucket=env.get("VPSLOG_S3_BUCKET", "vpslog"),
            access_key_id=env.get("VPSLOG_S3_ACCESS_KEY_ID", LOCAL_ACCESS_KEY),
            secret_access_key=env.get("VPSLOG_S3_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY),
            region=env.get("VPSLOG_S3_REGION", "auto"),
            allowed_origins=origins or cls.allowed_origins,
            presign_ttl_s=ttl,
        )

    def client(self, endpoint: str | None = None):
        """A boto3 S3 client: SigV4, region 'auto', path-style (R2, S3 and moto alike)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=endpoint or self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 3, "mode": "standard"}),
        )
