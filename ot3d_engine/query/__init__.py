"""Free-text queries over a segmented scene: `ot3d query SCENE "text"`."""
