"""The add-on's export goes through the engine's result writer: a re-export leaves no file
of the previous one, and a folder the add-on did not write is never replaced."""

from __future__ import annotations

import pytest

from addon_env import bpy, ext_scene, segmented  # noqa: F401


def test_reexport_replaces_the_folder_whole(segmented, tmp_path):
    ext, scene, _ = segmented
    out = tmp_path / "export"
    assert bpy.ops.ot3d.export(directory=str(out), scene_name="s") == {"FINISHED"}
    first = sorted(p.name for p in (out / "pred_mask").iterdir())
    objs = sorted(bpy.data.collections["Instances"].objects, key=lambda o: o["point_count"])
    for o in scene.objects:
        o.select_set(False)
    objs[0].select_set(True)
    assert bpy.ops.ot3d.delete() == {"FINISHED"}
    assert bpy.ops.ot3d.export(directory=str(out), scene_name="s") == {"FINISHED"}
    second = sorted(p.name for p in (out / "pred_mask").iterdir())
    assert len(second) == len(first) - 1  # no stale mask of the deleted instance
    assert len((out / "s.txt").read_text().splitlines()) == len(second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging folder or lock left


def test_export_refuses_a_foreign_folder(segmented, tmp_path):
    out = tmp_path / "my-documents"
    out.mkdir()
    (out / "thesis.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="refusing to replace"):  # bpy raises an operator's ERROR report
        bpy.ops.ot3d.export(directory=str(out), scene_name="s")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
