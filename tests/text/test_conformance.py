"""gda-text's generator and selector pass the conformance kit (gda_core.testing).

text.prompt and text.perplexity need a causal language model; their own tests build a tiny one. text.openai's
contract runs in test_openai_server.py, against the real server the conftest starts in the background (the
later it is needed, the more of its start-up other tests hide)."""

from __future__ import annotations

from gda_core.records import Dataset, Record
from gda_core.testing import GeneratorContract, SelectorContract


def _support():
    from gda_core.context import RunContext
    from gda_text.datasets import SupportTicketsDataset

    return SupportTicketsDataset(k_shot=2).load(RunContext(train=Dataset([]), quiet=True)).train


class TestNlpaug(GeneratorContract):
    name = "text.nlpaug"
    plugins = ("gda-text",)

    def train_data(self):
        return _support()


class TestFormat(SelectorContract):
    name = "text.format"
    plugins = ("gda-text",)

    def planted_mix(self):
        train = _support()
        good = [Record(f"good-{r.id}", str(r.data), r.label) for r in train.records]
        bad = [Record(f"bad-{r.id}", str(r.data).replace(" ", " \ufffd\x00 ", 2), r.label) for r in train.records]
        return train, good, bad
