"""text.embedder (shipped all-MiniLM-L6-v2), text.tfidf and the text.classifier application."""

from __future__ import annotations

import numpy as np
import pytest
from text_helpers import context

from gda_core.records import Dataset, Record
from gda_text.applications.classifier import TextClassifierApplication
from gda_text.embedders.sentence import SentenceEmbedder
from gda_text.embedders.tfidf import TfidfEmbedder


@pytest.fixture(scope="module")
def support():
    from gda_text.datasets import SupportTicketsDataset

    return SupportTicketsDataset().load(context(Dataset([])))


def _r(texts):
    return [Record(id=f"t{i}", data=t) for i, t in enumerate(texts)]


def test_sentence_embedder_gives_semantic_384d_vectors(support):
    emb = SentenceEmbedder(device="cpu")
    X = emb.embed(_r(["I was charged twice for my order", "My card got billed two times",
                      "The app crashes when I open it"]), context(support.train))
    assert X.shape == (3, 384)
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.2


def test_core_prdc_and_mmd_on_sentence_embeddings(support):
    from gda_core.builtin.validators.mmd import MMDValidator
    from gda_core.builtin.validators.prdc import PRDCValidator
    from gda_core.components import ValidationInputs

    ctx = context(support.train, support.test)
    ctx.embedder = SentenceEmbedder(device="cpu")
    real_like = list(support.test.records[:60])
    noise = _r(["zq xv " * 5 + str(i) for i in range(60)])
    good = PRDCValidator().evaluate(ValidationInputs(support.train, support.test, real_like), ctx).metrics
    bad = PRDCValidator().evaluate(ValidationInputs(support.train, support.test, noise), ctx).metrics
    assert good["precision"] > bad["precision"] + 0.5 and good["coverage"] > bad["coverage"]
    m_good = MMDValidator().evaluate(ValidationInputs(support.train, support.test, real_like), ctx).metrics
    m_bad = MMDValidator().evaluate(ValidationInputs(support.train, support.test, noise), ctx).metrics
    assert m_good["mmd2"] < m_bad["mmd2"]


def test_tfidf_embedder_shapes(support):
    emb = TfidfEmbedder(components=16)
    ctx = context(support.train)
    emb.fit(support.train, ctx)
    assert emb.embed(support.test.records[:5], ctx).shape == (5, 16)


def test_tfidf_logreg_classifier_beats_chance_on_the_builtin_set(support):
    app = TextClassifierApplication()
    res = app.evaluate(support.train, support.test, seed=0, context=context(support.train))
    assert res["accuracy"] > 0.7 and 0 < res["macro_f1"] <= 1  # chance is 0.25
    emb = TextClassifierApplication(model="embedding-logreg")
    ctx = context(support.train)
    ctx.embedder = SentenceEmbedder(device="cpu")
    assert emb.evaluate(support.train, support.test, seed=0, context=ctx)["accuracy"] > 0.7


def _tiny_bert(folder, fast) -> str:
    """A tiny randomly initialised BERT classifier for tokenizer ``fast``, saved with it; its path."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64,
                                                     max_position_embeddings=32, num_labels=2))
    model.save_pretrained(folder / "bert")
    fast.save_pretrained(folder / "bert")
    return str(folder / "bert")


def test_transformer_fine_tune_option_with_a_tiny_encoder(tmp_path, toy, toy_test):
    """A tiny BERT (WordLevel tokenizer trained here) saved and loaded by path, fine-tuned on the toy set."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(toy.texts(), trainers.WordLevelTrainer(
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]")
    app = TextClassifierApplication(model="transformer", transformer=_tiny_bert(tmp_path, fast), epochs=8, lr=3e-3,
                                    device="cpu")
    res = app.evaluate(toy, toy_test, seed=0, context=context(toy))
    assert res["accuracy"] >= 0.8, res  # chance is 0.5


def test_transformer_fine_tune_with_a_tokenizer_without_pad_eos_or_unk(tmp_path, toy, toy_test):
    """No token to pad with at all: one is added (and the embeddings resized), the fine-tune runs."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[CLS]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(toy.texts(), trainers.WordLevelTrainer(special_tokens=["[CLS]", "[SEP]"],
                                                                   show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]")
    assert fast.pad_token is None and fast.eos_token is None and fast.unk_token is None
    app = TextClassifierApplication(model="transformer", transformer=_tiny_bert(tmp_path, fast), epochs=2, lr=3e-3,
                                    device="cpu")
    res = app.evaluate(toy, toy_test, seed=0, context=context(toy))
    assert 0 <= res["accuracy"] <= 1
