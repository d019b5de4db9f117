"""text.nlpaug: the classical augmentation baseline."""

from __future__ import annotations

import pytest
from text_helpers import context

from gda_core.errors import ConfigError
from gda_text.generators.nlpaug import OFFLINE_DEFAULT, NlpaugGenerator, wordnet_available


@pytest.fixture(scope="module")
def support():
    from gda_core.records import Dataset
    from gda_text.datasets import SupportTicketsDataset

    return SupportTicketsDataset(k_shot=5).load(context(Dataset([]))).train


def _conds(ds):
    return [{"label": r.label, "source_id": r.id} for r in ds.records]


@pytest.mark.parametrize("action", OFFLINE_DEFAULT + ["spelling", "char_substitute", "word_crop", "word_split"])
def test_each_offline_action_perturbs_the_source_text(support, action):
    gen = NlpaugGenerator(actions=[action], aug_p=0.3)
    ctx = context(support)
    gen.fit(support, ctx)
    recs = gen.generate(_conds(support), seed=0, context=ctx)
    assert len(recs) == len(support)
    assert [r.label for r in recs] == [r.label for r in support]
    changed = sum(r.data != s.data for r, s in zip(recs, support))
    assert changed >= len(support) // 2, action
    assert all(r.meta["actions"] == [action] and r.meta["source"] == s.data for r, s in zip(recs, support))


def test_generation_is_deterministic_given_seed(support):
    gen = NlpaugGenerator(chain=2)
    ctx = context(support)
    gen.fit(support, ctx)
    a = [r.data for r in gen.generate(_conds(support), seed=3, context=ctx)]
    b = [r.data for r in gen.generate(_conds(support), seed=3, context=ctx)]
    c = [r.data for r in gen.generate(_conds(support), seed=4, context=ctx)]
    assert a == b and a != c


def test_word_insert_uses_the_class_vocabulary(support):
    gen = NlpaugGenerator(actions=["word_insert"], aug_p=0.5)
    ctx = context(support)
    gen.fit(support, ctx)
    recs = gen.generate(_conds(support), seed=0, context=ctx)
    for r, s in zip(recs, support):
        assert len(r.data.split()) > len(s.data.split())
        added = set(r.data.split()) - set(s.data.split())
        assert added <= set(gen.vocab_[str(s.label)])


def test_synonym_and_contextual_need_their_resources(support):
    ctx = context(support)
    if not wordnet_available():
        with pytest.raises(ConfigError, match="WordNet"):
            NlpaugGenerator(actions=["synonym"]).fit(support, ctx)
    with pytest.raises(ConfigError, match="contextual_model"):
        NlpaugGenerator(actions=["contextual"]).fit(support, ctx)


def test_unknown_action_is_a_config_error():
    from gda_core.config import resolve

    with pytest.raises(ConfigError, match=r"generator \(text.nlpaug\): params.actions"):
        resolve({"generator": {"name": "text.nlpaug", "params": {"actions": ["telepathy"]}}})


def test_save_and_load_round_trip(tmp_path, support):
    gen = NlpaugGenerator(chain=2)
    ctx = context(support)
    gen.fit(support, ctx)
    ref = [r.data for r in gen.generate(_conds(support), seed=9, context=ctx)]
    gen.save_pretrained(tmp_path / "g")
    back = NlpaugGenerator.from_pretrained(tmp_path / "g")
    assert [r.data for r in back.generate(_conds(support), seed=9, context=ctx)] == ref


def test_contextual_substitution_with_a_local_masked_lm(tmp_path, toy):
    """ContextualWordEmbsAug through a tiny BERT masked LM built and saved here, loaded by path."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(toy.texts(), trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64)).save_pretrained(tmp_path / "mlm")
    fast.save_pretrained(tmp_path / "mlm")
    gen = NlpaugGenerator(actions=["contextual"], contextual_model=str(tmp_path / "mlm"), aug_p=0.3)
    ctx = context(toy)
    gen.fit(toy, ctx)
    conds = _conds(toy.subset(range(8)))
    a = [r.data for r in gen.generate(conds, seed=0, context=ctx)]
    assert a == [r.data for r in gen.generate(conds, seed=0, context=ctx)]
    assert sum(x != r.data for x, r in zip(a, toy.records[:8])) >= 6


def test_contextual_with_a_tokenizer_without_a_mask_token_is_one_config_error(tmp_path, toy):
    """A causal LM's tokenizer has no [MASK]: contextual substitution refuses it, naming the field."""
    from text_helpers import build_tiny_gpt2

    build_tiny_gpt2(tmp_path / "gpt", toy.texts())
    gen = NlpaugGenerator(actions=["contextual"], contextual_model=str(tmp_path / "gpt"))
    with pytest.raises(ConfigError, match=r"generator.params.contextual_model: .* has no mask token"):
        gen.fit(toy, context(toy))
