"""Stage 2: lifting 2D masks to denoised 3D voxel sets."""
