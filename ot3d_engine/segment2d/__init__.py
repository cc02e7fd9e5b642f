"""Stage 1: per-frame 2D masks. Backends register under role "segmenter"."""
