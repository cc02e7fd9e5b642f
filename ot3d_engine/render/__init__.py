"""Virtual RGB-D views of meshes and point clouds, so geometry-only input runs the normal
pipeline (issue 13): camera paths, mesh ray casting, point splatting, the virtual Scan and
labels back onto the input."""
