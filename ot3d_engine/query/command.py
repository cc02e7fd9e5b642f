"""`ot3d query SCENE "something to sit on near the window"`: ranked instance ids with reasons.

SCENE is an `ot3d segment` output folder (points.npz + instances.json, which names the scan).
Without the scan or the image-text model, ranking falls back to the text shortlist and says so.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ModelUnavailableError, ScanError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", help="scene folder written by `ot3d segment`")
    p.add_argument("text", help="what to look for, in plain words")
    p.add_argument("--top", type=int, default=5, help="how many instances to print (default 5)")
    p.add_argument("--shortlist", type=int, default=10, help="instances the model verifies (default 10)")
    p.add_argument("--views", type=int, default=3, help="views per instance shown to the model (default 3)")
    p.add_argument("--vlm", help="image-text model id or folder (default: the model registry's vlm)")
    p.add_argument("--small", action="store_true", help="use the registry's small vlm (SmolVLM)")
    p.add_argument("--text-model", help="sentence encoder for the shortlist (default: embedded MiniLM)")
    p.add_argument("--models", help="model registry file (TOML/JSON); default $OT3D_MODELS")
    p.add_argument("--scan", help="scan folder, if it moved since segmentation")
    p.add_argument("--no-verify", action="store_true", help="text shortlist only, no image-text model")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def rank_scene(args, warn=lambda msg: print(msg, file=sys.stderr)):
    from ..models.text import TextEncoder
    from ..output.scene_io import read_scene
    from .rank import shortlist, verify

    scene = read_scene(args.scene)
    text = TextEncoder(args.text_model, args.models)
    hits = shortlist(args.text, scene.instances, text, max(args.shortlist, args.top))
    if args.no_verify or not hits:
        return hits, False
    try:
        from ..io import load_scan
        from ..models.vlm import VisionLanguageModel

        scan_path = args.scan or scene.meta.get("scan")
        if not scan_path:
            raise ScanError(args.scene, "instances.json names no scan; pass --scan")
        scan = load_scan(scan_path)
        vlm = VisionLanguageModel(args.vlm, args.models, role="vlm_small" if args.small else "vlm")
    except (ModelUnavailableError, ScanError) as exc:
        warn(f"verification skipped, ranking by text similarity only: {exc}")
        return hits, False
    by_id = {i.id: i for i in scene.instances}
    rest = hits[args.shortlist:]
    for h in rest:  # never looked at: below every verified match
        h.score *= 0.5
    return sorted(verify(args.text, hits[:args.shortlist], by_id, scan, vlm, k=args.views) + rest,
                  key=lambda h: -h.score), True


def run(args) -> int:
    hits, verified = rank_scene(args)
    hits = hits[:args.top]
    if args.json:
        print(json.dumps({"query": args.text, "verified": verified, "results": [
            {"id": h.id, "label": h.label, "score": round(h.score, 4), "match": h.verified, "reason": h.reason,
             "views": h.views} for h in hits]}, indent=1))
        return 0
    if not hits:
        print("no instances in this scene")
        return 0
    how = "verified by the image-text model" if verified else "text similarity only"
    print(f"{len(hits)} best matches for {args.text!r} ({how}):")
    for rank, h in enumerate(hits, 1):
        mark = {True: "yes", False: "no", None: "-"}[h.verified]
        print(f"{rank:>3}. id {h.id:<5} {h.label:<24} score {h.score:.3f}  match {mark:<3} {h.reason}")
    return 0
