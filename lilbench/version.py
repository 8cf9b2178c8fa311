"""The package version, in a module of its own: checkpoints and records stamp it without
importing the package root (whose lazy attributes reach the API, the top layer)."""

__version__ = "0.1.0"
