"""Blender operators: the shared engine-job operator (job_operator.py) and one module per
action: segment, import, correct, query, export, create the engine environment."""
