"""Robust reading of free-form model answers: JSON when the model complied, key: value or plain
text when it did not, and an explicit 'malformed' flag when nothing usable came back."""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass

_LABEL_KEYS = ("label", "category", "class", "object", "name", "answer")
_CONF_KEYS = ("confidence", "probability", "certainty", "score")
_MATCH_KEYS = ("match", "matches", "is_match", "answer", "verdict")
_SCORE_KEYS = ("score", "confidence", "rating", "probability")
_REASON_KEYS = ("reason", "explanation", "why", "rationale")
_FILLER = re.compile(r"^(?:(?:it|this|that)(?:'s| is)|the object is|the answer is|answer:|i think|"
                     r"a|an|the)\s+", re.I)


@dataclass
class ParsedLabel:
    label: str
    confidence: float | None  # as stated by the model, 0..1
    in_vocabulary: bool
    malformed: bool


@dataclass
class ParsedVerdict:
    match: bool | None  # None: the answer said neither yes nor no
    score: float | None  # 0..1
    reason: str
    malformed: bool


def extract_json(text: str) -> dict | None:
    """The first JSON object in text, tolerating code fences, single quotes, Python literals
    and trailing commas."""
    text = re.sub(r"```(?:json)?", "", text or "")
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        for end in [m.end() for m in re.finditer(r"\}", text[start:])]:
            chunk = text[start:start + end]
            for cand in (chunk, _repair(chunk)):
                try:
                    obj = json.loads(cand)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    return {str(k).strip().lower(): v for k, v in obj.items()}
    return None


def _repair(chunk: str) -> str:
    if '"' not in chunk:
        chunk = chunk.replace("'", '"')
    chunk = re.sub(r",\s*([}\]])", r"\1", chunk)
    chunk = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", chunk)))
    return re.sub(r"([{,]\s*)([A-Za-z_][\w ]*?)\s*:", r'\1"\2":', chunk)  # unquoted keys


def to_unit(value, scale_hint: float = 1.0) -> float | None:
    """A number as 0..1: '85%', 85 (of 100), 0.85; with scale_hint=10 a whole number is out of
    10 (so 1 means 0.1 there, while 1.0 or 0.9 are already fractions)."""
    if isinstance(value, bool) or value is None:
        return None
    whole = isinstance(value, int)
    if isinstance(value, str):
        m = re.search(r"-?\d+(?:\.\d+)?", value)
        if not m:
            return None
        pct = "%" in value[m.end():m.end() + 2]
        whole = "." not in m.group() and not pct
        value = float(m.group()) / (100 if pct else 1)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    if whole and scale_hint > 1 and 0 <= v <= scale_hint:
        return v / scale_hint
    if v > 1:
        v = v / scale_hint if v <= scale_hint else v / 100 if v <= 100 else 1.0
    return float(min(max(v, 0.0), 1.0))


def clean_name(text: str) -> str:
    text = str(text).strip().strip("\"'`*").strip()
    text = text.splitlines()[0] if text else ""
    text = re.sub(r"[\"'`*_]", "", text).strip(" .,:;!?-").lower()
    prev = None
    while prev != text:
        prev, text = text, _FILLER.sub("", text).strip()
    return " ".join(text.split())


def match_vocabulary(candidate: str, vocabulary: list[str], full_text: str = "") -> str | None:
    """Exact, then singular/plural, then the longest vocabulary phrase inside the answer, then
    a close spelling."""
    if not vocabulary:
        return None
    vocab = {v.lower(): v for v in vocabulary}
    cand = clean_name(candidate)
    if cand in vocab:
        return vocab[cand]
    for form in (cand[:-1] if cand.endswith("s") else None, cand[:-2] if cand.endswith("es") else None,
                 cand + "s"):
        if form and form in vocab:
            return vocab[form]
    for source in (cand, (full_text or "").lower()):
        hits = [v for v in vocab if re.search(rf"\b{re.escape(v)}s?\b", source)]
        if hits:
            return vocab[max(hits, key=len)]
    close = difflib.get_close_matches(cand, list(vocab), n=1, cutoff=0.85)
    return vocab[close[0]] if close else None


def _first(obj: dict, keys) -> object:
    for k in keys:
        if k in obj and obj[k] not in (None, ""):
            return obj[k]
    return None


def parse_label(text: str, vocabulary: list[str] | None = None) -> ParsedLabel:
    vocabulary = vocabulary or []
    text = text or ""
    obj = extract_json(text)
    conf = None
    if obj is not None:
        cand = _first(obj, _LABEL_KEYS)
        cand = cand[0] if isinstance(cand, list) and cand else cand
        cand = "" if cand is None else str(cand)
        conf = to_unit(_first(obj, _CONF_KEYS))
    else:
        m = re.search(r"\b(?:label|category|class|object|answer)\s*[:=]\s*\"?([^\"\n,;{}]+)", text, re.I)
        cand = m.group(1) if m else text
        c = re.search(r"confiden\w*\W{0,3}(\d+(?:\.\d+)?\s*%?)", text, re.I)
        conf = to_unit(c.group(1)) if c else None
    hit = match_vocabulary(cand, vocabulary, text)
    if hit is not None:
        return ParsedLabel(hit, conf, True, False)
    name = clean_name(cand)
    words = re.findall(r"[a-z][a-z\-]*", name)
    if not words:
        return ParsedLabel("object", None, False, True)
    return ParsedLabel(" ".join(words[:4]), conf, False, False)


def _to_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, str):
        s = value.strip().lower()
        if s.startswith(("yes", "true", "match", "y")) and not s.startswith("yesn"):
            return True
        if s.startswith(("no", "false", "n")):
            return False
    return None


def parse_verdict(text: str) -> ParsedVerdict:
    text = text or ""
    obj = extract_json(text)
    if obj is not None:
        match = _to_bool(_first(obj, _MATCH_KEYS))
        score = to_unit(_first(obj, _SCORE_KEYS), scale_hint=10)
        reason = _first(obj, _REASON_KEYS)
        reason = "" if reason is None else " ".join(str(reason).split())
        if match is None and score is not None:
            match = score >= 0.5
        return ParsedVerdict(match, score, reason, match is None)
    m = re.match(r"\W*(yes|no)\b\W*(.*)", text.strip(), re.I | re.S)
    if m:
        rest = " ".join(m.group(2).split())
        s = re.search(r"\b(?:score|rating|confidence)\W{0,3}(\d+(?:\.\d+)?\s*%?)", rest, re.I)
        return ParsedVerdict(m.group(1).lower() == "yes", to_unit(s.group(1), 10) if s else None, rest, False)
    return ParsedVerdict(None, None, "", True)
