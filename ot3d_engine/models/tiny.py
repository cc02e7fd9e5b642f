"""Tiny random models of every supported family, saved like real checkpoints.

For smoke runs with no weights (tests, `benchmarks/gpu_bench.py --tiny`): each builder writes
`save_pretrained` output (model + processor + tokenizer) into a folder, which then loads through
exactly the path a downloaded model takes. Outputs are random: only shapes and plumbing mean
anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def _wordpiece_tokenizer():
    """Lower-case letters and '.' as WordPiece pieces: every vocabulary word tokenizes."""
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-"] + list(_LETTERS)
    tokens += ["##" + c for c in _LETTERS]
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)})


def _byte_vocab(extra: list[str]) -> dict[str, int]:
    from tokenizers import pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for tok in extra:
        vocab.setdefault(tok, len(vocab))
    return vocab


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    chars = sorted(_byte_vocab([]))
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for tok in ("<|startoftext|>", "<|endoftext|>"):
        vocab[tok] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _clip_special_ids(tok) -> dict:
    ids = tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    return {"bos_token_id": ids[0], "eos_token_id": ids[1], "pad_token_id": ids[1]}


def _clip_like(tok, max_positions: int, image_size: int, patch_size: int) -> dict:
    """Text and vision towers of a tiny CLIP-shaped model (CLIP, OWLv2)."""
    tower = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    return {"text_config": {**tower, "vocab_size": len(tok), "max_position_embeddings": max_positions,
                            **_clip_special_ids(tok)},
            "vision_config": {**tower, "image_size": image_size, "patch_size": patch_size},
            "projection_dim": 16}


def build_grounding_dino(out: Path) -> Path:
    from transformers import (GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor)

    _seed()
    tok = _wordpiece_tokenizer()
    cfg = GroundingDinoConfig(
        backbone_config={"model_type": "swin", "embed_dim": 8, "depths": [1, 1], "num_heads": [1, 1],
                         "window_size": 4, "image_size": 64, "out_features": ["stage1", "stage2"]},
        text_config={"model_type": "bert", "vocab_size": tok.vocab_size, "hidden_size": 16,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32},
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=20, num_feature_levels=2, encoder_n_points=2,
        decoder_n_points=2, max_text_len=64, use_timm_backbone=False, backbone=None,
    )
    model = GroundingDinoForObjectDetection(cfg)
    proc = GroundingDinoProcessor(GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}), tok)
    return _save(model, proc, out)


def build_owlv2(out: Path) -> Path:
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    _seed()
    tok = _clip_tokenizer()
    cfg = Owlv2Config(**_clip_like(tok, max_positions=16, image_size=64, patch_size=16))
    model = Owlv2ForObjectDetection(cfg)
    proc = Owlv2Processor(Owlv2ImageProcessor(size={"height": 64, "width": 64}), tok)
    return _save(model, proc, out)


def build_sam(out: Path) -> Path:
    from transformers import SamConfig, SamModel, SamImageProcessor, SamProcessor

    _seed()
    cfg = SamConfig(
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 8, "output_channels": 16, "window_size": 4,
                       "global_attn_indexes": [0], "num_pos_feats": 8, "mlp_dim": 32},
        prompt_encoder_config={"hidden_size": 16, "image_size": 64, "patch_size": 8, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 16, "mlp_dim": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                             "iou_head_hidden_dim": 16},
    )
    model = SamModel(cfg)
    proc = SamProcessor(SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
                                          mask_size={"longest_edge": 16}, mask_pad_size={"height": 16, "width": 16}))
    return _save(model, proc, out)


def build_sam2(out: Path) -> Path:
    """SAM2 (Hiera backbone + FPN), tiny. Its image processor is torchvision-backed: without
    torchvision only the model and the processor's config are saved (and loading says why it fails)."""
    from transformers import Sam2Config, Sam2ImageProcessor, Sam2Model, Sam2Processor

    _seed()
    dims = [8, 16, 32, 64]
    cfg = Sam2Config(
        vision_config={
            "backbone_config": {"model_type": "sam2_hiera_det_model", "hidden_size": dims[0], "image_size": [64, 64],
                                "blocks_per_stage": [1, 1, 2, 1], "embed_dim_per_stage": dims, "num_attention_heads_per_stage": [1, 1, 2, 2],
                                "window_size_per_stage": [4, 4, 4, 2], "global_attention_blocks": [3],
                                "window_positional_embedding_background_size": [4, 4]},
            "backbone_channel_list": dims[::-1], "backbone_feature_sizes": [[16, 16], [8, 8], [4, 4]],
            "fpn_hidden_size": 32},
        prompt_encoder_config={"hidden_size": 32, "image_size": 64, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                             "iou_head_hidden_dim": 16},
    )
    model = Sam2Model(cfg)
    sizes = {"size": {"height": 64, "width": 64}, "mask_size": {"height": 16, "width": 16}}
    try:
        proc = Sam2Processor(Sam2ImageProcessor(**sizes))
    except ImportError:  # no torchvision: write the processor config a real checkpoint carries
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "preprocessor_config.json").write_text(json.dumps(
            {"image_processor_type": "Sam2ImageProcessorFast", "processor_class": "Sam2Processor", **sizes}))
        model.save_pretrained(out)
        return out
    return _save(model, proc, out)


def build_dinov2(out: Path) -> Path:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    _seed()
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       patch_size=14, image_size=56)
    model = Dinov2Model(cfg)
    proc = BitImageProcessor(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    return _save(model, proc, out)


def build_clip(out: Path) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    _seed()
    tok = _clip_tokenizer()
    cfg = CLIPConfig(**_clip_like(tok, max_positions=32, image_size=32, patch_size=8))
    model = CLIPModel(cfg)
    proc = CLIPProcessor(CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tok)
    return _save(model, proc, out)


_IDEFICS_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def build_idefics3(out: Path) -> Path:
    """SmolVLM's architecture (Idefics3), tiny."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, Qwen2Tokenizer
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    _seed()
    specials = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>",
                "<global-img>"] + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    vocab = _byte_vocab(specials)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    image_proc = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32},
                                           do_image_splitting=False)
    proc = Idefics3Processor(image_proc, tok, image_seq_len=4, chat_template=_IDEFICS_TEMPLATE)
    eos, pad = vocab["<end_of_utterance>"], vocab["<|endoftext|>"]
    cfg = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 2048, "eos_token_id": eos, "pad_token_id": pad},
        scale_factor=2, image_token_id=vocab["<image>"], pad_token_id=pad,
    )
    model = Idefics3ForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    return _save(model, proc, out)


_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for c in message['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen2_5_vl(out: Path) -> Path:
    """Qwen2.5-VL, tiny. Its processor includes a video processor, which needs torchvision:
    without it only the tokenizer and image processor are saved (and loading says why it fails)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    _seed()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    vocab = _byte_vocab(specials)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    image_proc = Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    cfg = Qwen2_5_VLConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}},
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                       "fullatt_block_indexes": [1], "window_size": 56},
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
        eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"])
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = vocab["<|im_end|>"]
    model.generation_config.pad_token_id = vocab["<|endoftext|>"]
    try:
        from transformers import Qwen2_5_VLProcessor, Qwen2VLVideoProcessor

        proc = Qwen2_5_VLProcessor(image_proc, tok, Qwen2VLVideoProcessor(), chat_template=_QWEN_TEMPLATE)
    except ImportError:  # no torchvision: save the parts that can exist
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        image_proc.save_pretrained(out)
        tok.chat_template = _QWEN_TEMPLATE
        proc = tok
    return _save(model, proc, out)


def build_bert_text(out: Path) -> Path:
    """A MiniLM-shaped (BERT) sentence encoder."""
    from transformers import BertConfig, BertModel

    _seed()
    tok = _wordpiece_tokenizer()
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32))
    return _save(model, tok, out)


def _save(model, processor, out: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "grounding-dino": build_grounding_dino,
    "owlv2": build_owlv2,
    "sam": build_sam,
    "sam2": build_sam2,
    "dinov2": build_dinov2,
    "clip": build_clip,
    "idefics3": build_idefics3,
    "qwen2_5_vl": build_qwen2_5_vl,
    "bert": build_bert_text,
}


def build_tiny(family: str, out: str | Path) -> Path:
    return BUILDERS[family](Path(out))
