"""Errors a user can act on: each names the file (or thing) and the problem."""

from __future__ import annotations

from pathlib import Path


class OT3DError(Exception):
    """Base class for every error the engine raises on purpose."""


class ScanError(OT3DError):
    """A scan (or a file inside it) cannot be read or is inconsistent."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class ConfigError(OT3DError):
    """A pipeline/model configuration is invalid (unknown backend, bad value...)."""


class ModelUnavailableError(OT3DError):
    """Model weights are not in the local cache or path; message says how to get them."""


class Cancelled(OT3DError):
    """The caller asked the pipeline to stop (polled between frames)."""
