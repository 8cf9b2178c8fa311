"""User-facing errors: the CLI prints them on one line and exits with `exit_code`."""

from __future__ import annotations


class LilbenchError(Exception):
    """An error caused by input or environment, not by a bug: one actionable line."""

    exit_code: int = 2


class DataError(LilbenchError):
    """A data set cannot be found, fetched or verified."""


class CheckpointError(LilbenchError):
    """A checkpoint is missing, corrupt or does not fit the request."""


class ConfigError(LilbenchError):
    """An option or suite value is invalid."""


class RecordError(LilbenchError):
    """A stored result is malformed or belongs to other weights."""
