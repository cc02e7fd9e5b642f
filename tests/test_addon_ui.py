"""The sidebar panels and preferences draw without errors in every state, and only show
properties and operators that exist (the bpy module has no window to draw into, so a
recording layout stands in for UILayout and checks each call against the RNA)."""

from __future__ import annotations

import types

import pytest

from addon_env import EXT_MODULE, bpy, ext_scene, segmented  # noqa: F401


class Layout:
    """Duck-typed UILayout: records what is drawn, refuses unknown properties/operators."""

    def __init__(self, log):
        self.log = log
        self.alert = False
        self.enabled = True
        self.operator_context = "INVOKE_DEFAULT"  # read by the wrapper of appended draw functions

    def _sub(self, *a, **k):
        return Layout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        module, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), name), f"no operator {idname}"
        self.log.append(("operator", idname))
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        self.log.append(("label", text))

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", text))

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kw):
        assert hasattr(bpy.types, list_type)
        assert prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties
        self.log.append(("list", prop))


def draw(cls, context) -> list:
    log = []
    cls.draw(types.SimpleNamespace(layout=Layout(log)), context)
    return log


@pytest.mark.parametrize("state", ["empty", "running", "error"])
def test_panels_draw_in_every_state(ext_scene, state):
    ext, scene = ext_scene
    s = scene.ot3d
    if state == "running":
        s.running, s.progress, s.status = True, 0.4, "track: frame 4/10"
    if state == "error":
        s.last_error = "/scan: unknown scan layout\nTraceback ..."
    log = draw(ext.panels.OT3D_PT_segment, bpy.context)
    ops = [x[1] for x in log if x[0] == "operator"]
    if state == "running":
        assert ("progress", "track: frame 4/10") in log and "ot3d.cancel_job" in ops and "ot3d.segment" not in ops
    else:
        assert "ot3d.segment" in ops and "ot3d.cancel_job" not in ops
    if state == "error":
        assert ("label", "/scan: unknown scan layout") in log
    # the engine tier row (appended by preferences.draw_tier_status): no engine Python set here
    assert ("label", "Weights-free tier: Blender's own Python") in log
    assert any(kind == "label" and text.startswith("Neural backends need an engine environment")
               for kind, text in log)
    assert ("label", "No segmentation") in draw(ext.panels.OT3D_PT_instances, bpy.context)
    assert ("list", "query_matches") in draw(ext.panels.OT3D_PT_query, bpy.context)


def test_panels_draw_with_a_segmentation_and_matches(segmented):
    ext, scene, _ = segmented
    obj = next(iter(bpy.data.collections["Instances"].objects))
    bpy.context.view_layer.objects.active = obj
    log = draw(ext.panels.OT3D_PT_instances, bpy.context)
    n = len(bpy.data.collections["Instances"].objects)
    assert ("label", f"{n} instances") in log
    assert ("label", f"{obj['label']} #{obj['instance_id']}") in log
    for op in ("ot3d.relabel", "ot3d.merge", "ot3d.split", "ot3d.move_points", "ot3d.delete", "ot3d.export"):
        assert ("operator", op) in log
    item = scene.ot3d.query_matches.add()
    item.instance_id, item.label, item.score, item.reason = 1, "chair", 0.9, "it has four legs and a seat"
    assert ("label", "it has four legs and a seat") in draw(ext.panels.OT3D_PT_query, bpy.context)


def test_preferences_draw(ext_scene):
    ext, scene = ext_scene
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    log = []
    prefs.env_status = "line one\nline two"
    stand_in = types.SimpleNamespace(layout=Layout(log), bl_rna=prefs.bl_rna, env_status=prefs.env_status)
    type(prefs).draw(stand_in, bpy.context)
    assert ("operator", "ot3d.create_engine_env") in log and ("label", "line two") in log
    assert {("prop", p) for p in ("engine_python", "engine_source", "jobs_folder", "torch_index_url")} <= set(log)
