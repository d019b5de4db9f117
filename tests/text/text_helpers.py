"""Tiny models and planted data sets built inside the tests (no downloads)."""

from __future__ import annotations

import random
from pathlib import Path

from gda_core.context import RunContext
from gda_core.records import Dataset, Record

WEATHER = ["sunny", "rain", "cloudy", "windy", "storm", "snow", "warm", "cold", "fog", "sky", "thunder", "breeze"]
FOOD = ["pizza", "pasta", "cheese", "bread", "soup", "salad", "apple", "rice", "curry", "cake", "butter", "noodles"]
GLUE = ["the", "a", "today", "very", "and", "with", "so", "again"]


def toy_texts(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        k = rng.randint(4, 7)
        toks = [rng.choice(words) if rng.random() < 0.7 else rng.choice(GLUE) for _ in range(k)]
        out.append(" ".join(toks))
    return out


def toy_dataset(n_per_class: int = 40, seed: int = 0) -> Dataset:
    """Two planted classes with disjoint content words (weather vs food) and shared glue words."""
    rng = random.Random(seed)
    recs = []
    for label, words in (("weather", WEATHER), ("food", FOOD)):
        for i, t in enumerate(toy_texts(words, n_per_class, rng)):
            recs.append(Record(id=f"{label}-{i:03d}", data=t, label=label))
    return Dataset(recs, modality="text", classes=["food", "weather"])


def context(train: Dataset, test: Dataset | None = None, seed: int = 0, workdir: Path | None = None) -> RunContext:
    return RunContext(train=train, test=test, seed=seed, quiet=True, workdir=workdir)


def build_tiny_gpt2(path: Path, texts: list[str], *, pretrain_epochs: int = 0, chat_template: str | None = None,
                    n_embd: int = 32, n_positions: int = 64) -> Path:
    """A GPT-2-style model (a few thousand parameters) with a BPE tokenizer trained on ``texts``,
    optionally pre-trained on them, saved with ``save_pretrained`` into ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<pad>")
    if chat_template is not None:
        fast.chat_template = chat_template
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=n_positions, n_embd=n_embd, n_layer=2, n_head=2,
                        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                        pad_token_id=fast.pad_token_id)
    model = GPT2LMHeadModel(config)
    if pretrain_epochs:
        from gda_text.lm import prepare_tokenizer, train_causal_lm

        train_causal_lm(model, prepare_tokenizer(fast), texts, epochs=pretrain_epochs, lr=5e-3, batch_size=16,
                        max_length=32, seed=0)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path
