"""text.prompt and text.lora on a tiny GPT-2 built and saved by the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from text_helpers import build_tiny_gpt2, context

from gda_core.errors import ConfigError
from gda_text.generators.prompt import PromptGenerator, parse_lines
from gda_text.strategies.lora import LoraStrategy


def _texts(records):
    return [r.data for r in records]


def test_parse_lines_strips_bullets_numbers_and_short_lines():
    out = parse_lines("- first sample here\n2. second one\n\n* third\nok\n(4) fourth line\n\"quoted text\"", 3)
    assert out == ["first sample here", "second one", "third", "fourth line", "quoted text"]


def test_few_shot_generation_shape_labels_and_determinism(toy, tiny_lm):
    gen = PromptGenerator(model=str(tiny_lm), device="cpu", shots=3, samples_per_prompt=2, max_new_tokens=8,
                          min_chars=1)
    ctx = context(toy)
    gen.fit(toy, ctx)
    conds = [{"label": "food"}] * 3 + [{"label": "weather"}] * 2
    a = gen.generate(conds, seed=5, context=ctx)
    b = gen.generate(conds, seed=5, context=ctx)
    c = gen.generate(conds, seed=6, context=ctx)
    assert len(a) == len(conds)
    assert [r.label for r in a] == [cd["label"] for cd in conds]
    assert _texts(a) == _texts(b)
    assert _texts(a) != _texts(c)
    assert all(isinstance(r.data, str) for r in a)
    # the prompt holds real examples of the intended class only
    for r in a:
        if r.meta["prompt"]:
            assert f"examples of {r.label} messages" in r.meta["prompt"]
            lines = [ln[2:] for ln in r.meta["prompt"].splitlines() if ln.startswith("- ")]
            own = {t for t in toy.texts() if any(x.label == r.label and x.data == t for x in toy)}
            assert lines and set(lines) <= own


def test_chat_template_is_used_for_instruct_models(tmp_path, toy):
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    path = build_tiny_gpt2(tmp_path / "chat", toy.texts(), chat_template=template)
    gen = PromptGenerator(model=str(path), device="cpu", system="You write data.", max_new_tokens=4)
    ctx = context(toy)
    gen.fit(toy, ctx)
    prompt = gen.build_prompt("food", ["pizza and cheese"])
    assert prompt.startswith("<|system|>You write data.") and prompt.endswith("<|assistant|>")
    assert "examples of food messages" in prompt and "- pizza and cheese" in prompt
    assert len(gen.generate([{"label": "food"}] * 2, seed=0, context=ctx)) == 2
    plain = PromptGenerator(model=str(path), device="cpu", chat="no")
    plain.fit(toy, ctx)
    assert not plain.build_prompt("food", ["x"]).startswith("<|system|>")


def test_lora_label_conditioned_samples_are_classified_as_intended(toy, lora_fitted):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    gen, strategy, _ = lora_fitted
    assert gen.label_conditioned and gen.has_adapter_
    assert strategy.history_[-1] < strategy.history_[0]
    clf = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(toy.texts(), toy.labels())
    conds = [{"label": lab} for lab in ("weather", "food") for _ in range(20)]
    recs = gen.generate(conds, seed=0, context=context(toy))
    acc = clf.score(_texts(recs), [r.label for r in recs])
    assert acc >= 0.7, acc  # chance is 0.5


def test_lora_adapter_reloads_alone_and_generator_round_trips(tmp_path, toy, tiny_lm, lora_fitted):
    gen, _, adapter_dir = lora_fitted
    assert (adapter_dir / "adapter_config.json").is_file()
    assert not (adapter_dir / "model.safetensors").exists()  # the adapter alone, not the base
    ctx = context(toy)
    conds = [{"label": "food"}, {"label": "weather"}] * 3
    ref = _texts(gen.generate(conds, seed=11, context=ctx))
    alone = PromptGenerator(model=str(tiny_lm), adapter=str(adapter_dir), device="cpu", max_new_tokens=16)
    assert _texts(alone.generate(conds, seed=11, context=ctx)) == ref
    gen.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "gda_generator.json").read_text())
    assert saved["params"]["model"] == str(tiny_lm)
    back = PromptGenerator.from_pretrained(tmp_path / "saved")
    assert back.label_conditioned
    assert _texts(back.generate(conds, seed=11, context=ctx)) == ref


def test_lora_from_scratch_without_pretrained_weights(tmp_path, toy):
    gen = PromptGenerator(device="cpu", max_new_tokens=12)
    strategy = LoraStrategy(epochs=2, scratch={"epochs": 3, "n_embd": 32, "n_head": 2, "vocab_size": 300})
    ctx = context(toy)
    gen = strategy.fit(gen, toy, ctx)
    conds = [{"label": "food"}, {"label": "weather"}]
    ref = _texts(gen.generate(conds, seed=1, context=ctx))
    gen.save_pretrained(tmp_path / "scratch")
    assert (tmp_path / "scratch" / "base" / "model.safetensors").is_file()
    assert (tmp_path / "scratch" / "adapter" / "adapter_config.json").is_file()
    back = PromptGenerator.from_pretrained(tmp_path / "scratch")
    assert _texts(back.generate(conds, seed=1, context=ctx)) == ref


def test_lora_training_moves_samples_closer_to_data_than_untrained(toy, tiny_lm, lora_fitted):
    """Per-token NLL of real held-out-like texts is lower under the fine-tuned model than under noise."""
    from gda_text.lm import text_nll

    gen, _, _ = lora_fitted
    real = toy.texts()[:20]
    rng = np.random.default_rng(0)
    noise = [" ".join("".join(rng.choice(list("qxzjkvw"), 5)) for _ in range(5)) for _ in range(20)]
    prompts = [gen.label_prompt(r.label) for r in list(toy)[:20]]
    assert np.mean(text_nll(gen.model_, gen.tokenizer_, real, prompts=prompts)) < \
        np.mean(text_nll(gen.model_, gen.tokenizer_, noise, prompts=prompts)) - 1.0


def test_missing_model_and_bad_params_are_config_errors(toy):
    from gda_core.config import resolve

    gen = PromptGenerator()
    with pytest.raises(ConfigError, match="generator.params.model"):
        gen.fit(toy, context(toy))
    with pytest.raises(ConfigError, match=r"generator \(text.prompt\): params.temperature"):
        resolve({"dataset": "text.builtin", "generator": {"name": "text.prompt", "params": {"temperature": -1}}})
    with pytest.raises(ConfigError, match=r"params.template"):
        resolve({"dataset": "text.builtin", "generator": {"name": "text.prompt", "params": {"template": "no field"}}})
    with pytest.raises(ConfigError, match=r"strategy \(text.lora\): params.r"):
        resolve({"dataset": "text.builtin", "strategy": {"name": "text.lora", "params": {"r": 0}}})
    with pytest.raises(ConfigError, match=r"params.scratch.n_layer"):
        resolve({"strategy": {"name": "text.lora", "params": {"scratch": {"n_layer": 0}}}})
    with pytest.raises(ConfigError, match="generator.params.model"):
        PromptGenerator(model="/nonexistent/model/folder").load_model()
