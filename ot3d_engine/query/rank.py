"""Rank a scene's instances for a free-text request: a cheap text-similarity shortlist, then an
image-text model looks at each shortlisted instance's views and says yes/no with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..classify.answers import parse_verdict
from ..classify.crops import instance_views
from ..types import Instance, Scan

VERIFY_PROMPT = (
    "The {n} image(s) show one object from a 3D scene, outlined in red, seen from different viewpoints. "
    "Its detected category is \"{label}\". Request: \"{query}\". Does this object satisfy the request? "
    'Reply with JSON only: {{"match": true or false, "score": <0 to 10>, "reason": "<a short reason>"}}')


@dataclass
class QueryHit:
    id: int
    label: str
    score: float  # final ranking score, 0..1
    shortlist_score: float  # text similarity of the request and the label, -1..1
    verified: bool | None = None  # the model's yes/no; None when not asked or unreadable
    reason: str = ""
    views: list[int] = field(default_factory=list)
    answer: str = ""


def describe(inst: Instance) -> str:
    return inst.label or "object"


def shortlist(query: str, instances: list[Instance], text_encoder, k: int) -> list[QueryHit]:
    """The k instances whose label reads most like the request."""
    if not instances:
        return []
    q = text_encoder.encode([query])
    labels = text_encoder.encode([describe(i) for i in instances])
    sim = (labels @ q.T)[:, 0]
    order = np.argsort(-sim, kind="stable")[:k]
    return [QueryHit(instances[i].id, describe(instances[i]), float((sim[i] + 1) / 2), float(sim[i]))
            for i in order]


def verification_score(match: bool | None, score: float | None, probability: float) -> float | None:
    """yes -> 0.5..1, no -> 0..0.5, scaled by the stated score (else the answer's probability)."""
    if match is None:
        return None
    s = score if score is not None else probability
    return 0.5 + 0.5 * s if match else 0.5 * (score if score is not None else 1 - probability)


def verify(query: str, hits: list[QueryHit], instances: dict[int, Instance], scan: Scan, vlm, k: int = 3,
           context: float = 0.4, crop_size: int = 384, max_new_tokens: int = 64) -> list[QueryHit]:
    """Ask the model about each shortlisted instance; re-rank by its verdicts."""
    insts = [instances[h.id] for h in hits]
    views = instance_views(insts, scan, k, context, crop_size)
    asked = [i for i, (_, crops) in enumerate(views) if crops]
    prompts = [(views[i][1], VERIFY_PROMPT.format(n=len(views[i][1]), label=hits[i].label, query=query))
               for i in asked]
    answers = dict(zip(asked, vlm.ask(prompts, max_new_tokens)))
    for i, hit in enumerate(hits):
        hit.views = views[i][0]
        ans = answers.get(i)
        if ans is None:
            hit.reason, hit.score = "no frame sees this instance", 0.5 * hit.score
            continue
        verdict = parse_verdict(ans.text)
        vs = verification_score(verdict.match, verdict.score, ans.probability)
        hit.answer, hit.verified = ans.text, verdict.match
        if vs is None:
            hit.score = 0.5 * hit.score
            hit.reason = f"unreadable model answer: {ans.text[:80]!r}"
        else:
            hit.score = 0.8 * vs + 0.2 * hit.score
            hit.reason = verdict.reason or ("matches" if verdict.match else "does not match")
    return sorted(hits, key=lambda h: -h.score)
