"""Loading the neural backends' weights: which model per role, where it runs, offline-first.

Importing this package is cheap; torch and transformers load on the first model load.
"""

from .spec import DEFAULT_MODELS, ModelSpec, load_model_registry, model_spec

__all__ = ["DEFAULT_MODELS", "ModelSpec", "load_model_registry", "model_spec"]
