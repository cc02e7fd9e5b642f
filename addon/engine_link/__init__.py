"""The engine, seen from Blender: where its source is (source.py), the worker subprocess
(runner.py) and one job's life (engine_job.py), which tier runs it (tier.py), which backends
exist and what they need (backends.py), the engine environment (setup_env.py) and one
progress bar for a job's stages (overall_progress.py). No bpy here, except where tier.py
asks Blender for its wheels folder: this part is tested outside Blender too."""
