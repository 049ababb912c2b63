"""What reading a run raises."""

from __future__ import annotations


class ReadError(ValueError):
    """A run or stream that cannot be read as asked; the message names the run and the stream."""


def read_errors() -> tuple:
    """What reading a run's pieces raises when one is missing, truncated or damaged: the
    run references' own errors (ValueError), the file system's, and S3's if boto3 is installed."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return ValueError, OSError
    return ValueError, OSError, BotoCoreError, ClientError
