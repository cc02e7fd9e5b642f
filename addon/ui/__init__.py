"""What the user sees and sets: the sidebar panels (panels.py), per-scene settings
(properties.py) and the add-on preferences (preferences.py)."""
