"""Stage 3: one feature vector per mask. Backends register under role "features"."""
