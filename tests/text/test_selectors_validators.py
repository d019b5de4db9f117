"""text.format, text.perplexity, text.diversity, and core selectors on text embeddings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from text_helpers import context

from gda_core.errors import ConfigError
from gda_core.records import Record
from gda_text.selectors.format import FormatSelector
from gda_text.selectors.perplexity import PerplexitySelector
from gda_text.validators.diversity import bleu, distinct_n, self_bleu, tokenize


def _recs(texts, label="food"):
    return [Record(id=f"s{i}", data=t, label=label) for i, t in enumerate(texts)]


def test_format_selector_rules(toy):
    sel = FormatSelector(max_words=12, min_chars=8)
    sel.fit(toy, context(toy))
    good = "pizza and cheese with bread today"
    cases = {
        good: [],
        "pizza": ["min_words", "min_chars"],
        " ".join(["soup"] * 14): ["max_words", "max_repeat"],
        "@@## $$%% 1234 !!!": ["min_alpha"],
        "food: pizza and cheese again": ["label_prefix"],
        toy.texts()[0].upper(): ["copy"],
        "zzqx vvbn plok wert": ["max_nonword"],
    }
    for text, expected in cases.items():
        assert sel.violations(text) == expected, text
    recs = _recs(list(cases))
    keep = sel.select(sel.score(recs, context(toy)), recs, context(toy))
    assert keep.tolist() == [True] + [False] * (len(cases) - 1)


def test_perplexity_selector_keeps_the_likely_half_of_a_planted_mix(toy, lora_fitted, tmp_path):
    gen, _, _ = lora_fitted
    gen.save_pretrained(tmp_path / "model")  # where a run keeps its fitted generator
    rng = np.random.default_rng(0)
    real_like = [r.data for r in toy.records[::4]][:10]
    junk = [" ".join("".join(rng.choice(list("qxzjkvw"), 6)) for _ in range(5)) for _ in range(10)]
    recs = [Record(id=f"r{i}", data=t, label=toy.records[::4][i].label) for i, t in enumerate(real_like)]
    recs += [Record(id=f"j{i}", data=t, label="food" if i % 2 else "weather") for i, t in enumerate(junk)]
    ctx = context(toy, workdir=tmp_path)
    sel = PerplexitySelector(keep=0.5, per_class=False, device="cpu")
    sel.fit(toy, ctx)
    scores = sel.score(recs, ctx)
    assert scores[:10].max() < scores[10:].min()
    keep = sel.select(scores, recs, ctx)
    assert keep[:10].all() and not keep[10:].any()
    # an explicit model path gives the same kind of ranking without the run folder
    by_path = PerplexitySelector(model=str(tmp_path / "model" / "base") if (tmp_path / "model" / "base").exists()
                                 else gen.params.model, keep=0.5, per_class=False, device="cpu")
    by_path.fit(toy, context(toy))
    s2 = by_path.score(recs, context(toy))
    assert np.median(s2[:10]) < np.median(s2[10:])


def test_perplexity_selector_without_a_model_is_a_config_error(toy, tmp_path):
    with pytest.raises(ConfigError, match="text.perplexity"):
        PerplexitySelector().fit(toy, context(toy, workdir=tmp_path))


def test_distinct_n_and_bleu_known_values():
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n([], 2) == 0.0
    toks = tokenize("the cat sat on the mat")
    assert bleu(toks, [toks]) == pytest.approx(1.0)
    assert bleu(toks, [tokenize("dogs run fast")]) == 0.0
    partial = bleu(toks, [tokenize("the cat sat on a rug")])
    assert 0.0 < partial < 1.0
    # brevity penalty: a short exact prefix scores below 1
    assert bleu(tokenize("the cat sat"), [toks]) < math.exp(0) - 0.1


def test_self_bleu_orders_repetitive_above_diverse_sets():
    same = ["my card was charged twice"] * 5
    varied = ["my card was charged twice", "the parcel never arrived here", "app crashes on start",
              "reset my password please", "where is the invoice for march"]
    assert self_bleu(same) == pytest.approx(1.0)
    assert self_bleu(varied) < 0.2
    assert distinct_n(varied, 2) > distinct_n(same, 2)


def test_diversity_validator_reports_sets(toy):
    from gda_core.components import ValidationInputs
    from gda_text.validators.diversity import DiversityValidator

    syn = _recs(["pizza pizza pizza cheese"] * 4)
    base = _recs(["sunny warm day", "cold rain again", "cake and soup", "bread with butter"])
    inputs = ValidationInputs(train=toy, test=toy, synthetic=syn, stages=[("generated", syn), ("after x", syn)],
                              baselines={"text.nlpaug": base})
    res = DiversityValidator().evaluate(inputs, context(toy))
    names = [row[0] for row in res.tables[0].rows]
    assert names == ["real train", "synthetic (kept)", "text.nlpaug (baseline)"]
    assert res.metrics["synthetic.self_bleu"] > res.metrics["real.self_bleu"]
    rows = {row[0]: row for row in res.tables[0].rows}
    assert rows["synthetic (kept)"][2] == pytest.approx(2 / 16)  # distinct-1: {pizza, cheese} of 16 words
    assert rows["text.nlpaug (baseline)"][2] > rows["synthetic (kept)"][2]


def test_core_confidence_and_dedup_work_on_text_embeddings(toy):
    from gda_core.builtin.selectors.confidence import ClassifierConfidenceSelector
    from gda_core.builtin.selectors.dedup import DeduplicationSelector
    from gda_text.embedders.tfidf import TfidfEmbedder

    ctx = context(toy)
    ctx.embedder = TfidfEmbedder(components=None)
    right = [Record(id=f"a{i}", data=r.data + " again", label=r.label) for i, r in enumerate(toy.records[:10])]
    wrong = [Record(id=f"b{i}", data=r.data + " again", label="food" if r.label == "weather" else "weather")
             for i, r in enumerate(toy.records[40:50])]
    conf = ClassifierConfidenceSelector(keep=0.5, threshold=None, per_class=False)
    conf.fit(toy, ctx)
    mix = right + wrong
    keep = conf.select(conf.score(mix, ctx), mix, ctx)
    assert keep[:10].sum() >= 9 and keep[10:].sum() <= 1
    copies = [Record(id=f"c{i}", data=r.data, label=r.label) for i, r in enumerate(toy.records[:5])]
    novel = [Record(id="n0", data="pizza rain butter thunder with cake", label="food")]
    dd = DeduplicationSelector()
    dd.fit(toy, ctx)
    keep = dd.select(dd.score(copies + novel, ctx), copies + novel, ctx)
    assert keep.tolist() == [False] * 5 + [True]
