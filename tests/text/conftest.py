import sys
from pathlib import Path

import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-text")


sys.path.insert(0, str(Path(__file__).parent))

@pytest.fixture(scope="session")
def toy():
    from text_helpers import toy_dataset

    return toy_dataset(40, seed=0)


@pytest.fixture(scope="session")
def toy_test():
    from text_helpers import toy_dataset

    return toy_dataset(25, seed=1)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, toy):
    """A tiny GPT-2 + BPE tokenizer, briefly pre-trained on the toy texts (no labels), saved to disk."""
    from text_helpers import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), toy.texts(), pretrain_epochs=30)


@pytest.fixture(scope="session")
def lora_fitted(tmp_path_factory, toy, tiny_lm):
    """text.prompt on the tiny LM after text.lora fine-tuning on the label-prefixed toy set."""
    from text_helpers import context

    from gda_text.generators.prompt import PromptGenerator
    from gda_text.strategies.lora import LoraStrategy

    adapter_dir = tmp_path_factory.mktemp("adapter")
    gen = PromptGenerator(model=str(tiny_lm), device="cpu", max_new_tokens=16)
    strategy = LoraStrategy(epochs=20, lr=2e-2, r=8, adapter_dir=str(adapter_dir))
    gen = strategy.fit(gen, toy, context(toy))
    return gen, strategy, adapter_dir
