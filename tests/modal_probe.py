"""The Segment operator's interactive (modal + timer) path, driven by hand in the bpy module:
it has no window manager event loop, so the tests play the timer and Esc events themselves.
Shared by the add-on's Segment and live-view tests."""

from __future__ import annotations

import time

SEGMENT_HOOKS = ("job_params", "apply_result", "stage_weights", "live_update", "live_end", "partial_result")


class Event:
    """A window-manager event as modal() reads it."""

    def __init__(self, type_, value="NOTHING"):
        self.type, self.value = type_, value


def segment_probe(ext, live_view: bool = False):
    """The Segment operator's hooks on the EngineJobOperator mix-in, as a plain object
    (a registered operator cannot be instantiated outside Blender's call). `live_view` is
    what run_modal sets: the engine publishes snapshots and the live cloud shows them."""
    seg_op = ext.operators.segment_ops.OT3D_OT_segment

    class Probe(seg_op.__mro__[1]):  # the EngineJobOperator mix-in
        job_name = "segment"
        keeps_job_folder = seg_op.keeps_job_folder
        _live = None

        def __init__(self):
            self.reports = []
            self.live_view = live_view

        def report(self, kind, message):
            self.reports.append((set(kind), message))

    for name in SEGMENT_HOOKS:
        setattr(Probe, name, getattr(seg_op, name))
    return Probe()


def drive(probe, context, observe, esc_when=None, limit_s=180.0):
    """Timer ticks until the operator ends (Esc once `esc_when(seen)` holds); `seen` is what
    `observe()` returned after each tick. Returns (the operator's result, seen)."""
    end = time.monotonic() + limit_s
    seen = []
    while time.monotonic() < end:
        if esc_when is not None and esc_when(seen):
            result = probe.modal(context, Event("ESC", "PRESS"))
            esc_when = None
        else:
            result = probe.modal(context, Event("TIMER"))
        seen.append(observe())
        if result != {"RUNNING_MODAL"}:
            return result, seen
        time.sleep(0.02)
    raise AssertionError("the modal operator never finished")
