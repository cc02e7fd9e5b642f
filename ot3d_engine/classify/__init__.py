"""Stage 6: name each final instance. Backends register under role "classifier"."""
