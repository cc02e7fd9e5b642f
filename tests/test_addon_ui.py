"""The sidebar panels and preferences draw without errors in every state, and only show
properties and operators that exist (the bpy module has no window to draw into, so a
recording layout stands in for UILayout and checks each call against the RNA)."""

from __future__ import annotations

import types

import pytest

from addon_env import EXT_MODULE, bpy, ext_scene, neural_engine, segmented  # noqa: F401


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

    def prop_enum(self, data, name, value, **kw):
        prop = data.bl_rna.properties[name]
        assert value in [i.identifier for i in prop.enum_items], f"{name} has no choice {value!r}"
        self.log.append(("choice", name, value, self.enabled))

    def operator(self, idname, **kw):
        module, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), name), f"no operator {idname}"
        self.log.append(("operator", idname))
        return types.SimpleNamespace()

    def menu(self, idname, text="", **kw):
        assert hasattr(bpy.types, idname), f"no menu {idname}"
        self.log.append(("menu", idname, text, self.alert))

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
        s.last_error = "/scan: unknown scan layout"
        ext.scene.job_status.of(scene).log = "/scan: unknown scan layout\nTraceback ..."
    log = draw(ext.ui.panels.OT3D_PT_segment, bpy.context)
    ops = [x[1] for x in log if x[0] == "operator"]
    if state == "running":
        assert ("progress", "track: frame 4/10") in log and "ot3d.cancel_job" in ops and "ot3d.segment" not in ops
    else:
        assert "ot3d.segment" in ops and "ot3d.cancel_job" not in ops
    if state == "error":
        assert ("label", "/scan: unknown scan layout") in log and "ot3d.show_log" in ops
    else:
        assert "ot3d.show_log" not in ops
    # the engine tier row (appended by preferences.draw_tier_status): no engine Python set here
    assert ("label", "Weights-free tier: Blender's own Python") in log
    assert any(x[0] == "label" and x[1].startswith("Neural backends need an engine environment") for x in log)
    assert ("label", "No segmentation") in draw(ext.ui.panels.OT3D_PT_instances, bpy.context)
    assert ("list", "query_matches") in draw(ext.ui.panels.OT3D_PT_query, bpy.context)


def test_panels_draw_with_a_segmentation_and_matches(segmented):
    ext, scene, _ = segmented
    obj = next(iter(bpy.data.collections["Instances"].objects))
    bpy.context.view_layer.objects.active = obj
    log = draw(ext.ui.panels.OT3D_PT_instances, bpy.context)
    n = len(bpy.data.collections["Instances"].objects)
    assert ("label", f"{n} instances") in log
    assert ("label", f"no label #{obj['instance_id']}") in log  # no labeller ran
    for op in ("ot3d.relabel", "ot3d.merge", "ot3d.split", "ot3d.move_points", "ot3d.delete", "ot3d.export"):
        assert ("operator", op) in log
    hint = ("label", "No labels yet: Query needs a labeller (or Relabel) or the image-text model")
    assert hint in draw(ext.ui.panels.OT3D_PT_query, bpy.context)
    obj["label"] = "chair"
    assert hint not in draw(ext.ui.panels.OT3D_PT_query, bpy.context)
    item = scene.ot3d.query_matches.add()
    item.instance_id, item.label, item.score, item.reason = 1, "chair", 0.9, "it has four legs and a seat"
    assert ("label", "it has four legs and a seat") in draw(ext.ui.panels.OT3D_PT_query, bpy.context)


def test_preferences_draw(ext_scene):
    ext, scene = ext_scene
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    log = []
    prefs.env_status = "line one\nline two"
    stand_in = types.SimpleNamespace(layout=Layout(log), bl_rna=prefs.bl_rna, env_status=prefs.env_status)
    type(prefs).draw(stand_in, bpy.context)
    assert ("operator", "ot3d.create_engine_env") in log and ("label", "line two") in log
    assert {("prop", p) for p in ("engine_python", "engine_source", "jobs_folder", "torch_index_url")} <= set(log)


ROLES = ("segmenter", "features", "classifier", "tracker")


def test_backends_are_dropdowns_with_descriptions(ext_scene):
    ext, scene = ext_scene
    props = scene.ot3d.bl_rna.properties
    for role in ROLES:
        assert props[role].type == "ENUM"
        items = props[role].enum_items
        assert len(items) >= 2 and all(i.description for i in items)
    assert [i.identifier for i in props["classifier"].enum_items][0] == "NONE"
    assert "torch" in props["segmenter"].enum_items["grounded"].description
    log = draw(ext.ui.panels.OT3D_PT_segment, bpy.context)
    menus = {x[1]: x[2] for x in log if x[0] == "menu"}
    assert menus == {"OT3D_MT_backend_segmenter": "Geometric", "OT3D_MT_backend_features": "Colour",
                     "OT3D_MT_backend_classifier": "None", "OT3D_MT_backend_tracker": "Visual-spatial"}


def test_neural_backends_are_greyed_with_the_reason_when_the_engine_lacks_torch(ext_scene, neural_engine,
                                                                                tmp_path):
    import venv

    ext, scene = ext_scene
    s = scene.ot3d
    prefs = neural_engine
    # this checkout's .venv (the neural tier's engine Python in the tests) has torch and transformers
    log = draw(ext.ui.panels.BACKEND_MENUS["segmenter"], bpy.context)
    assert {x[2]: x[3] for x in log if x[0] == "choice"} == {
        "geometric": True, "grounded": True, "sam-auto": True, "oracle": True}

    venv.create(tmp_path / "bare", with_pip=False)  # an interpreter without torch
    prefs.engine_python = str(tmp_path / "bare" / "bin" / "python")
    try:
        log = draw(ext.ui.panels.BACKEND_MENUS["segmenter"], bpy.context)
        assert {x[2]: x[3] for x in log if x[0] == "choice"} == {
            "geometric": True, "grounded": False, "sam-auto": False, "oracle": True}
        assert any(x[0] == "label" and "needs torch and transformers" in x[1] for x in log)
        log = draw(ext.ui.panels.BACKEND_MENUS["classifier"], bpy.context)
        assert {x[2]: x[3] for x in log if x[0] == "choice"} == {
            "NONE": True, "mllm": False, "clip": False, "embedded": False}

        s.segmenter = "grounded"
        log = draw(ext.ui.panels.OT3D_PT_segment, bpy.context)
        assert ("menu", "OT3D_MT_backend_segmenter", "Grounded SAM", True) in log  # drawn in alert
        assert any(x[0] == "label" and x[1].startswith("Grounded SAM needs torch and transformers") for x in log)
        s.scan_path = str(tmp_path)
        root = ext.ui.preferences.jobs_root()
        before = set(root.iterdir())
        with pytest.raises(RuntimeError, match=r"^Error: Grounded SAM needs torch and transformers in the engine env"):
            bpy.ops.ot3d.segment()  # refused before any engine starts
        assert set(root.iterdir()) == before and not ext.engine_link.engine_job.ACTIVE
        assert s.last_error.startswith("Grounded SAM needs torch")

        # packages installed into that environment later are seen (pip adds scripts to bin/)
        site = next((tmp_path / "bare" / "lib").glob("python3*")) / "site-packages"
        for name in ("torch", "transformers"):
            (site / name).mkdir()
            (site / name / "__init__.py").write_text("")
        (tmp_path / "bare" / "bin" / "torchrun").write_text("")
        log = draw(ext.ui.panels.BACKEND_MENUS["segmenter"], bpy.context)
        assert {x[2]: x[3] for x in log if x[0] == "choice"}["grounded"] is True
    finally:
        prefs.engine_python = ""
        s.segmenter = "geometric"
