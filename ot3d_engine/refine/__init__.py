"""Stage 5: refinement (multi-view consistency, duplicate merging, optional mesh superpoints)."""
