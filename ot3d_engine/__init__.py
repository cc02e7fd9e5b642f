"""OpenTrack3D engine: RGB-D stream in, open-vocabulary 3D instances out.

Plain Python (numpy, scipy, open3d, torch/transformers for the neural backends).
Never imports bpy: Blender talks to it as a subprocess through ``ot3d_engine.protocol``.
"""

__version__ = "0.1.0"
