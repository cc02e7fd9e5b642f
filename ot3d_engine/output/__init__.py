"""Stage 6: writing and reading a segmented scene."""
