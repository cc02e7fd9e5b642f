"""The whole pipeline with the neural backends (tiny random models, real embedded weights) on a
rendered synthetic room: every segmenter, feature and classifier backend runs at least once."""

from __future__ import annotations

import numpy as np
import pytest

from models_helpers import tiny
from ot3d_engine.classify.base import apply_labels
from ot3d_engine.config import BackendConfig, LiftConfig, PipelineConfig, RefineConfig
from ot3d_engine.registry import build

VOCAB = ["chair", "table", "cabinet", "bookshelf", "sofa", "bed", "lamp", "cup"]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    from ot3d_engine.io import load_scan
    from ot3d_engine.synth.generate import generate_scene

    return load_scan(generate_scene(tmp_path_factory.mktemp("synth") / "room", seed=3, frames=5, width=160,
                                    height=120))


def _segmenter(kind: str) -> BackendConfig:
    """`detector` or `detector+sam2`; "sam-auto" for the class-agnostic mode."""
    if kind == "sam-auto":
        return BackendConfig("sam-auto", {"sam": tiny("sam"), "points_per_side": 6, "pred_iou_threshold": 0.0,
                                          "stability_threshold": 0.0, "min_mask_pixels": 20})
    detector, _, sam = kind.partition("+")
    return BackendConfig("grounded", {"detector": tiny(detector), "sam": tiny(sam or "sam"), "vocabulary": VOCAB,
                                      "box_threshold": 0.0, "min_mask_pixels": 20})


FEATURES = {"dino": lambda: BackendConfig("dino", {"model": tiny("dinov2"), "short_side": 56}),
            "embedded": lambda: BackendConfig("embedded")}
CLASSIFIERS = {"mllm": lambda: BackendConfig("mllm", {"model": tiny("idefics3"), "crop_size": 64,
                                                       "max_new_tokens": 6}),
               "qwen": lambda: BackendConfig("mllm", {"model": tiny("qwen2_5_vl"), "crop_size": 56,
                                                       "max_new_tokens": 6}),
               "clip": lambda: BackendConfig("clip", {"model": tiny("clip")}),
               "embedded": lambda: BackendConfig("embedded")}


@pytest.mark.slow
@pytest.mark.parametrize("segmenter, features, classifier", [
    ("owlv2", "embedded", "mllm"),
    ("grounding-dino", "dino", "embedded"),
    ("sam-auto", "dino", "clip"),
    ("grounding-dino+sam2", "dino", "qwen"),  # the paper's models; they need torchvision
])
def test_pipeline_with_neural_backends(scan, segmenter, features, classifier):
    if "embedded" in (features, classifier):
        pytest.importorskip("efficientnet_lite_pytorch")
    if "sam2" in segmenter or classifier == "qwen":
        pytest.importorskip("torchvision", reason="SAM2 and Qwen2.5-VL processors need torchvision")
    from ot3d_engine.pipeline import run_pipeline

    cfg = PipelineConfig(segmenter=_segmenter(segmenter), features=FEATURES[features](),
                         classifier=CLASSIFIERS[classifier](), vocabulary=VOCAB,
                         lift=LiftConfig(voxel_size=0.03, min_points=5), refine=RefineConfig(min_points=10))
    result = run_pipeline(scan, cfg)
    assert result.meta["masks"] > 0
    assert len(result.instances) > 0, "random tiny models still give masks that lift to instances"
    assert result.instance_ids.shape == (len(result.points),)
    assert set(np.unique(result.instance_ids)) - {0} == {i.id for i in result.instances}
    for inst in result.instances:
        assert inst.feature.shape == (build("features", cfg.features.name, **cfg.features.options).dim,)
    clf = build("classifier", cfg.classifier.name, **cfg.classifier.options)
    labelled = clf.classify(result.instances, scan, VOCAB)
    assert [lab.instance_id for lab in labelled] == [i.id for i in result.instances]
    assert any(lab.views for lab in labelled), "some instance is visible in some frame"
    for lab in labelled:
        assert set(lab.views) <= {scan.frame(i).index for i in range(len(scan))}
        assert 0.0 <= lab.confidence <= 1.0
        if classifier not in ("mllm", "qwen"):  # clip and the fallback tier always answer from the vocabulary
            assert lab.label in VOCAB or (not lab.views and lab.label == "object")
    assert all(lab.tier == ("fallback" if classifier == "embedded" else "model") for lab in labelled)
    apply_labels(result.instances, labelled)
    assert [i.label for i in result.instances] == [lab.label for lab in labelled]


@pytest.mark.slow
def test_gpu_bench_smoke_runs_on_tiny_models(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(repo / "benchmarks" / "gpu_bench.py"), "--tiny", "--frames", "2",
                    "--instances", "2", "--vocabulary", "chair,table", "--json", str(out)],
                   cwd=tmp_path, check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["resolution"] == "640x480" and report["frames"] == 2
    assert report["detector_sam_s_per_frame"] > 0 and report["dino_s_per_frame"] > 0
    assert report["mllm_s_per_instance"] is None or report["mllm_s_per_instance"] > 0
