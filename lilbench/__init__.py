"""lilbench: train Locally Isometric Layer models and measure their robustness honestly."""

__version__ = "0.1.0"

from lilbench.training.checkpoint import load_model

__all__ = ["__version__", "load_model"]
