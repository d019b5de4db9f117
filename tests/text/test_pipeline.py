"""The whole chain through gda_core.run on the shipped set, with a tiny from-scratch LM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gda_core import run

CONFIG = {
    "seed": 0,
    "dataset": {"name": "text.builtin", "params": {"k_shot": 6}},
    "generator": {"name": "text.prompt", "params": {"max_new_tokens": 24, "device": "cpu"}},
    "strategy": {"name": "text.lora", "params": {"epochs": 2, "scratch": {
        "epochs": 4, "n_embd": 32, "n_head": 2, "vocab_size": 400}}},
    "generate": {"per_class": 6, "shard_size": 10},
    "selectors": [{"name": "text.format", "params": {"max_nonword": 1.0, "min_words": 1, "min_chars": 1,
                                                     "min_alpha": 0.0, "drop_copies": False}},
                  {"name": "text.perplexity", "params": {"keep": 0.8}},
                  {"name": "core.dedup", "params": {"real_ratio": 0.0, "self_ratio": 0.0}},
                  {"name": "core.confidence", "params": {"keep": 0.5, "threshold": None}}],
    "baselines": ["text.nlpaug"],
    "validators": [{"name": "core.downstream", "params": {"seeds": 1}}, "text.diversity", "core.prdc", "core.mmd"],
    "application": "text.classifier",
    "embedder": "text.tfidf",
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "text-run"
    return folder, run(CONFIG, folder, quiet=True)


def test_run_generates_selects_validates_and_writes_texts(finished):
    folder, res = finished
    assert len(res.synthetic) == 24 and all(isinstance(r.data, str) for r in res.synthetic)
    assert len(res.baselines["text.nlpaug"]) == 24
    for r in res.synthetic:
        assert r.provenance.generator == "text.prompt" and r.provenance.strategy == "text.lora"
        assert "text.format" in r.provenance.kept
    kept = res.kept
    assert 0 < len(kept) < len(res.synthetic)
    texts = sorted((folder / "samples").glob("*.txt"))
    assert len(texts) == len(kept)
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert all("text" in row for row in rows)
    down = res.metrics["core.downstream"]
    # four intents: 6 real texts per class already put the TF-IDF model above chance (0.25; 0.58 measured), and
    # adding nlpaug's perturbed copies (which keep their intent) does not pull it down
    assert down["real.accuracy.mean"] > 0.4, down
    assert down["real+text.nlpaug (baseline).accuracy.mean"] > down["real.accuracy.mean"] - 0.1, down
    # the baseline texts are classified as their own intent by a model of the real texts (labels carried)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), LogisticRegression(C=10))
    model.fit([str(r.data) for r in res.train.records], [r.label for r in res.train.records])
    nlpaug = res.baselines["text.nlpaug"]
    right = np.mean(model.predict([str(r.data) for r in nlpaug]) == np.asarray([r.label for r in nlpaug]))
    assert right > 0.8, right
    assert "synthetic.self_bleu" in res.metrics["text.diversity"]
    assert {"precision", "recall", "density", "coverage"} <= set(res.metrics["core.prdc"])
    assert (folder / "model" / "adapter" / "adapter_config.json").is_file()
    report = (folder / "report.md").read_text()
    assert "Lexical diversity" in report and "text.nlpaug (baseline)" in report


def test_rerun_resumes_from_the_folder_with_the_same_manifest(finished):
    folder, _ = finished
    before = (folder / "manifest.jsonl").read_text()
    run(CONFIG, folder, quiet=True)
    assert (folder / "manifest.jsonl").read_text() == before
