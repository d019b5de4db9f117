"""Every component gda-core registers passes the conformance kit (gda_core.testing): one contract
per component with tiny inputs, and the common test over host.components(kind) of every kind."""

from __future__ import annotations

import numpy as np

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
    planted_vectors,
)

SKIP: dict[str, str] = {}
"""Components the kit cannot test, with the reason (none in gda-core)."""

ELSEWHERE = {"core.ctgan": "test_tabular_gan_vae.py", "core.tvae": "test_tabular_gan_vae.py"}
"""Contracts in other modules (the tabular GAN and VAE's, skipped there without the ctgan extra)."""

test_every_component = conformance_suite("gda_core", globals(), skip=SKIP, elsewhere=ELSEWHERE)


def _train():
    return planted_vectors(n=6, dim=3, seed=0)[0]


def _pool():
    return as_pool(Dataset([Record(f"pool-{r.id}", r.data, r.label) for r in planted_vectors(n=6, dim=3)[1]]))


# --- generators ------------------------------------------------------------------


class TestGMM(GeneratorContract):
    name = "core.gmm"
    params = {"n_components": 1}

    def train_data(self):
        return _train()


class TestKDE(GeneratorContract):
    name = "core.kde"

    def train_data(self):
        return _train()


# --- strategies ------------------------------------------------------------------


class TestTrain(StrategyContract):
    name = "core.train"


class TestPretrained(StrategyContract):
    """Loads a generator saved by a previous run (core.gmm, saved by the contract into a temporary folder)."""

    name = "core.pretrained"

    def build(self, **extra):
        import tempfile

        from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
        from gda_core.context import RunContext

        folder = tempfile.mkdtemp(prefix="gda-pretrained-")
        gen = GaussianMixtureGenerator.from_params({"n_components": 1})
        gen.name = "core.gmm"
        gen.fit(_train(), RunContext(train=_train(), quiet=True))
        gen.save_pretrained(folder)
        return super().build(path=folder, **extra)


class TestPseudoLabel(StrategyContract):
    name = "core.pseudo-label"
    params = {"classifier": "logistic", "keep": 0.5}

    def pool_data(self):
        return _pool()


class TestPretrainFinetune(StrategyContract):
    name = "core.pretrain-finetune"
    params = {"pseudo_label": True, "classifier": "logistic"}

    def pool_data(self):
        return _pool()


# --- selectors -------------------------------------------------------------------


class TestConfidence(SelectorContract):
    name = "core.confidence"


class TestDedup(SelectorContract):
    name = "core.dedup"


class TestCluster(SelectorContract):
    name = "core.cluster"
    min_good_share = 0.5  # diversity, not realism: it keeps spread-out samples of both kinds


class TestLearnerAgree(SelectorContract):
    """The learner trains on the labelled records plus a pool of new draws from the same classes."""

    name = "core.learner-agree"
    params = {"model": "logreg", "labeller": "logistic"}

    def context(self, train, pool=None):
        if pool is None:  # same class centres as planted_mix's (drawn first), new records
            extra = planted_vectors(n=16, seed=self.seed)[1]
            pool = as_pool(Dataset([Record(f"pool-{r.id}", r.data, r.label) for r in extra]))
        return super().context(train, pool)


class TestNearCopy(SelectorContract):
    """Planted: good records are new samples of each class, bad ones near-copies of training records."""

    name = "core.near-copy"
    params = {"quantile": 0.2}

    def planted_mix(self):
        train, good, _bad = planted_vectors(seed=self.seed)
        copies = [Record(f"copy-{r.id}", r.data + np.float32(1e-4), r.label) for r in train.records]
        return train, good, copies


def _ranked_mix(train, good, bad, by="core.confidence"):
    """The planted mix with the score of an earlier selector on each record (good 1, bad 0)."""
    for r in good:
        r.provenance.scores[by] = 1.0
    for r in bad:
        r.provenance.scores[by] = 0.0
    return train, good, bad


class TestTopK(SelectorContract):
    """Ranks by an earlier selector's score (planted on the records)."""

    name = "core.topk"
    params = {"by": "core.confidence"}

    def planted_mix(self):
        return _ranked_mix(*planted_vectors(seed=self.seed))


class TestBalance(SelectorContract):
    """Tops up each class to the largest real class, preferring an earlier selector's best."""

    name = "core.balance"
    params = {"by": "core.confidence", "target": 12}

    def planted_mix(self):
        return _ranked_mix(*planted_vectors(seed=self.seed))

    def test_keeps_the_better_records_of_each_class(self):
        sel, mix, good, scores, ctx = self._scored()
        kept = [r.id for r, k in zip(mix, sel.select(scores, mix, ctx)) if k]
        assert len(kept) == 2 * (12 - 8) and set(kept) <= good  # 8 real per class, topped up to 12


# --- validators ------------------------------------------------------------------


class TestDownstream(ValidatorContract):
    name = "core.downstream"
    params = {"seeds": 2}


class TestPRDC(ValidatorContract):
    name = "core.prdc"
    params = {"k": 3}


class TestMMD(ValidatorContract):
    name = "core.mmd"


class TestMemorization(ValidatorContract):
    name = "core.memorization"


class TestProjection(ValidatorContract):
    name = "core.projection"
    params = {"methods": ["pca"]}


# --- applications, embedders, data sets -------------------------------------------


class TestClassification(ApplicationContract):
    name = "core.classification"
    params = {"model": "logreg"}
    min_score = 0.9  # two classes 20 standard deviations apart


class TestFlatten(EmbedderContract):
    name = "core.flatten"


class TestStandardize(EmbedderContract):
    name = "core.standardize"


class TestPCA(EmbedderContract):
    name = "core.pca"
    params = {"n_components": 2}


class TestWine(DatasetContract):
    name = "core.wine"
    params = {"k_shot": 4}


class TestBreastCancer(DatasetContract):
    name = "core.breast-cancer"
    params = {"k_shot": 4}


class TestTable(DatasetContract):
    name = "core.table"

    def loader_params(self, tmp_path):
        rows = ["a,b,label"] + [f"{i % 3}.5,{i * 0.1:.1f},{'xy'[i % 2]}" for i in range(12)]
        (tmp_path / "rows.csv").write_text("\n".join(rows) + "\n")
        return {"path": str(tmp_path / "rows.csv")}


class TestArrays(DatasetContract):
    name = "core.arrays"

    def loader_params(self, tmp_path):
        rng = np.random.default_rng(0)
        np.savez(tmp_path / "arrays.npz", X=rng.normal(size=(12, 2, 3)), y=np.arange(12) % 2)
        return {"path": str(tmp_path / "arrays.npz")}
