"""``text.diversity``: distinct-n and self-BLEU of real, generated and baseline texts."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams over all n-grams of the set (Li et al., 2016); 0 for no n-grams."""
    grams = [g for t in texts for g in ngrams(tokenize(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU with clipped counts over several references, a brevity penalty against the
    closest reference length, and +1 smoothing of the higher-order precisions (Lin & Och, 2004)."""
    if not hypothesis or not references:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        hyp = Counter(ngrams(hypothesis, n))
        total = sum(hyp.values())
        max_ref: Counter = Counter()
        for ref in references:
            for g, c in Counter(ngrams(ref, n)).items():
                if c > max_ref[g]:
                    max_ref[g] = c
        clipped = sum(min(c, max_ref[g]) for g, c in hyp.items())
        if n == 1:
            if clipped == 0:
                return 0.0
            p = clipped / total
        else:
            p = (clipped + 1) / (total + 1)
        log_p += math.log(p) / max_n
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    bp = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / max(1, len(hypothesis)))
    return bp * math.exp(log_p)


def self_bleu(texts: Sequence[str], *, max_texts: int = 200, seed: int = 0) -> float:
    """Mean BLEU-4 of each text against all the others (Zhu et al., 2018): higher is less diverse."""
    toks = [tokenize(t) for t in texts]
    if len(toks) < 2:
        return float("nan")
    idx = np.arange(len(toks))
    if len(idx) > max_texts:
        idx = np.random.default_rng(seed).choice(idx, size=max_texts, replace=False)
    scores = [bleu(toks[i], [toks[j] for j in range(len(toks)) if j != i]) for i in idx]
    return float(np.mean(scores))


class DiversityParams(Params):
    n: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1, description="distinct-n orders")
    max_texts: int = Field(200, gt=1, description="texts scored for self-BLEU (a seeded sample of larger sets)")
    stages: bool = Field(True, description="also score the synthetic set before and after each selector")


class DiversityValidator(Validator):
    """Lexical diversity: distinct-n and self-BLEU of real, synthetic and baseline texts.

    Distinct-n (higher is more diverse) and self-BLEU (lower is more diverse) of the real training texts, the
    kept synthetic texts, each selection stage and each baseline; mean words per text alongside."""

    data_kind = "texts"
    Params = DiversityParams

    def _row(self, name: str, texts: Sequence[str], seed: int) -> tuple[list, dict[str, float]]:
        p = self.params
        vals = {f"distinct_{n}": distinct_n(texts, n) for n in p.n}
        vals["self_bleu"] = self_bleu(texts, max_texts=p.max_texts, seed=seed)
        vals["words"] = float(np.mean([len(t.split()) for t in texts])) if texts else 0.0
        return [name, len(texts), *[round(v, 4) for v in vals.values()]], vals

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        sets: list[tuple[str, list[str]]] = [("real train", [str(r.data) for r in inputs.train.records]),
                                             ("synthetic (kept)", [str(r.data) for r in inputs.synthetic])]
        if self.params.stages and len(inputs.stages) > 2:
            sets += [(name, [str(r.data) for r in recs]) for name, recs in inputs.stages[:-1]]
        sets += [(f"{name} (baseline)", [str(r.data) for r in recs]) for name, recs in inputs.baselines.items()]
        rows, metrics = [], {}
        for name, texts in sets:
            if not texts:
                continue
            row, vals = self._row(name, texts, context.seed)
            rows.append(row)
            prefix = {"real train": "real", "synthetic (kept)": "synthetic"}.get(name)
            if prefix:
                metrics.update({f"{prefix}.{k}": v for k, v in vals.items()})
        cols = ["texts", "records", *[f"distinct-{n}" for n in self.params.n], "self-BLEU", "words/text"]
        notes = ["distinct-n: unique n-grams / all n-grams (higher is more diverse); self-BLEU: BLEU-4 of each text "
                 "against the rest of its set (lower is more diverse). Sets of different sizes are not strictly "
                 "comparable: distinct-n falls as a set grows."]
        return ValidationResult(metrics=metrics, tables=[Table("Lexical diversity", cols, rows)], notes=notes)
