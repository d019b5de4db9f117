"""The core's generators and selectors pass the conformance kit (gda_core.testing).

core.topk and core.balance rank by an earlier selector's score, so they have no contract of their own."""

from __future__ import annotations

from gda_core.testing import GeneratorContract, SelectorContract, planted_vectors


def _train():
    return planted_vectors(n=6, dim=3, seed=0)[0]


class TestGMM(GeneratorContract):
    name = "core.gmm"
    params = {"n_components": 1}

    def train_data(self):
        return _train()


class TestKDE(GeneratorContract):
    name = "core.kde"

    def train_data(self):
        return _train()


class TestConfidence(SelectorContract):
    name = "core.confidence"


class TestDedup(SelectorContract):
    name = "core.dedup"


class TestCluster(SelectorContract):
    name = "core.cluster"
    min_good_share = 0.5  # diversity, not realism: it keeps spread-out samples of both kinds
