"""text.openai without a server: prompts, parsing and rejection reasons, retry waits, the cache, params."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest
from text_helpers import context

from gda_core.config import resolve
from gda_core.errors import ConfigError
from gda_text.generators.openai import OpenAIGenerator, json_schema, request_seed
from gda_text.openai_api import ResponseCache, backoff_delay, retry_after_seconds
from gda_text.prompts import parse_json_samples, render, screen

URL = "http://127.0.0.1:9/v1"


def _gen(**kw):
    gen = OpenAIGenerator(base_url=URL, model="m", **kw)
    gen.name = "text.openai"
    return gen


def test_json_replies_parse_with_fences_lists_and_labels():
    assert parse_json_samples('```json\n{"samples": [{"text": "a b", "label": "food"}, "c d"]}\n```') == [
        ("a b", "food"), ("c d", None)]
    assert parse_json_samples('Sure! [{"text": "x y"}, {"nope": 1}]') == [("x y", None), ("", None)]
    assert parse_json_samples('{"examples": ["one two"]}') == [("one two", None)]
    assert parse_json_samples("pizza and pasta\ncheese soup") is None
    assert parse_json_samples('{"samples": "not a list"}') is None


def test_screen_counts_each_rejection_reason():
    names = {"food": "food", "weather": "weather"}
    seen: set[str] = set()
    cands = [("", None), ("ok", None), ("I'm sorry, I cannot help with that.", None),
             ("weather: sunny and warm today", None), ("pizza with cheese", "weather"),
             ("food: pasta with butter", None), ("Pasta  with BUTTER", None), ("bread and soup", None),
             ("rice and curry", None), ("cake again", None)]
    accepted, why = screen(cands, label="food", names=names, real={"bread and soup"}, seen=seen, min_chars=3,
                           limit=2)
    assert accepted == ["pasta with butter", "rice and curry"]  # "food:" prefix of its own class removed
    assert why == {"empty": 1, "too short": 1, "refusal": 1, "wrong label": 2, "duplicate": 1,
                   "copy of a real text": 1, "beyond samples_per_prompt": 1}
    assert seen == {"pasta with butter", "rice and curry"}


def test_prompts_carry_descriptions_pool_texts_and_the_real_examples(toy):
    gen = _gen(shots=3, pool_shots=2, label_descriptions={"food": "talk about meals"})
    gen.fit(toy, context(toy))
    path, body, prompt = gen.build_request("food", ["pizza and cheese"], ["an unlabelled text"], seed=7)
    assert path == "/chat/completions" and body["seed"] == 7 and body["model"] == "m"
    assert body["messages"] == [{"role": "user", "content": prompt}]
    assert prompt.startswith("food messages: talk about meals\n\nMessages from the same source")
    assert "- an unlabelled text" in prompt and "- pizza and cheese" in prompt and "Write 5 new" in prompt
    assert body["max_tokens"] == 48 * 5 and "response_format" not in body
    # the same render as text.prompt's
    assert prompt == render(gen.params, gen.instruction, "food", ["pizza and cheese"], ["an unlabelled text"])
    comp = _gen(mode="completion", stop=["\n\n"], extra_body={"top_k": 40}, choices=3)
    path, body, prompt = comp.build_request("food", ["x y"], seed=1)
    assert path == "/completions" and body["prompt"] == prompt and prompt.startswith("Here are 1 examples of food")
    assert body["stop"] == ["\n\n"] and body["top_k"] == 40 and body["n"] == 3
    js = _gen(output="json")
    _, body, prompt = js.build_request("food", ["x y"], seed=1)
    assert body["response_format"]["json_schema"]["schema"] == json_schema()
    assert '{"samples": [{"text": "...", "label": "food"}]}' in prompt
    assert "response_format" not in _gen(output="json", response_format="none").build_request("f", ["x"])[1]
    assert _gen(seed=False).build_request("f", ["x"], seed=3)[1].get("seed") is None


def test_text_prompt_shares_the_templates(toy, tiny_lm):
    from gda_text.generators.prompt import PromptGenerator

    gen = PromptGenerator(model=str(tiny_lm), device="cpu", chat="no", label_descriptions={"food": "meals"})
    gen.fit(toy, context(toy))
    assert gen.build_prompt("food", ["x y"], ["pool text"]) == render(gen.params, gen.params.template, "food",
                                                                     ["x y"], ["pool text"])
    assert gen.build_prompt("food", ["x y"]).startswith("food messages: meals\n\nHere are 1 examples")


def test_request_seeds_differ_per_request_and_round():
    seeds = {request_seed(3, r, j) for r in range(3) for j in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2 ** 31 for s in seeds)
    assert request_seed(3, 0, 1) == request_seed(3, 0, 1) != request_seed(4, 0, 1)


def test_retry_after_in_seconds_milliseconds_and_http_dates():
    import email.utils

    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(0)
    waits = [[backoff_delay(n, 1.0, 8.0, rng) for _ in range(200)] for n in range(6)]
    for n, w in enumerate(waits):
        d = min(8.0, 2.0 ** n)
        assert d / 2 <= min(w) and max(w) <= d and np.std(w) > 0
    assert np.mean(waits[2]) > np.mean(waits[1]) > np.mean(waits[0])


def test_cache_keys_cover_the_full_request_and_files_are_whole(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1}
    key = ResponseCache.key(URL + "/chat/completions", body)
    assert key == ResponseCache.key(URL + "/chat/completions/", json.loads(json.dumps(body)))
    assert key != ResponseCache.key(URL + "/chat/completions", {**body, "seed": 2})
    assert key != ResponseCache.key(URL + "/chat/completions", {**body, "temperature": 0.5})
    cache = ResponseCache(tmp_path / "c")
    assert cache.get(key) is None
    cache.put(key, {"response": {"choices": []}})
    assert cache.get(key)["response"] == {"choices": []}
    assert [p.name for p in (tmp_path / "c").rglob("*") if p.is_file()] == [f"{key}.json"]
    cache.path(key).write_text('{"trunc')
    assert cache.get(key) is None  # damaged: sent again
    assert ResponseCache(None).get(key) is None


def test_the_key_itself_is_refused_where_a_variable_name_belongs():
    secret = "sk-proj-AbCdEf0123456789"
    with pytest.raises(ConfigError) as err:
        resolve({"dataset": "text.builtin", "generator": {"name": "text.openai", "params": {
            "base_url": URL, "model": "m", "api_key_env": secret}}})
    assert "params.api_key_env" in str(err.value) and secret not in str(err.value)
    for bad in ("http://user:pw@host/v1", "http://host/v1?api_key=abc", "ftp://host"):
        with pytest.raises(ConfigError, match="params.base_url"):
            resolve({"dataset": "text.builtin", "generator": {"name": "text.openai", "params": {
                "base_url": bad, "model": "m"}}})
    with pytest.raises(ConfigError, match="params.extra_body"):
        resolve({"dataset": "text.builtin", "generator": {"name": "text.openai", "params": {
            "base_url": URL, "model": "m", "extra_body": {"api_key": "x"}}}})
    with pytest.raises(ConfigError, match="params.model"):
        resolve({"dataset": "text.builtin", "generator": {"name": "text.openai", "params": {"base_url": URL}}})


def test_a_missing_key_variable_is_named_before_anything_is_sent(toy, monkeypatch):
    monkeypatch.delenv("GDA_TEST_NO_SUCH_KEY", raising=False)
    gen = _gen(api_key_env="GDA_TEST_NO_SUCH_KEY")
    gen.fit(toy, context(toy))
    with pytest.raises(ConfigError, match="GDA_TEST_NO_SUCH_KEY is not set"):
        gen.generate([{"label": "food"}], seed=0, context=context(toy))


def test_generating_before_fit_and_every_param_is_a_sampling_param(toy):
    from gda_core.errors import GDAError

    with pytest.raises(GDAError, match="before fit"):
        _gen().generate([{"label": "food"}], seed=0, context=context(toy))
    gen = _gen(temperature=0.3)
    assert set(gen.sampling_params()) == set(OpenAIGenerator.Params.model_fields)


def test_the_text_bench_runs_gen_openai_only_when_a_server_is_named(monkeypatch, tmp_path):
    from gda_core.bench.runner import SuiteRunner
    from gda_core.config import apply_overrides
    from gda_text.bench_suites import OPENAI_KEY_ENV, OPENAI_MODEL_ENV, OPENAI_URL_ENV, text_suite

    for var in (OPENAI_URL_ENV, OPENAI_MODEL_ENV, OPENAI_KEY_ENV):
        monkeypatch.delenv(var, raising=False)
    runner = SuiteRunner(text_suite(), tmp_path, seeds=1, quick=True, quiet=True)
    assert "gen openai" not in [m.name for m in runner.methods]
    assert [(s.what, s.why) for s in runner.skipped] == [
        ("method gen openai", f"not run: set {OPENAI_URL_ENV}, {OPENAI_MODEL_ENV}")]
    monkeypatch.setenv(OPENAI_URL_ENV, "http://127.0.0.1:8000/v1")
    monkeypatch.setenv(OPENAI_MODEL_ENV, "served-model")
    monkeypatch.setenv(OPENAI_KEY_ENV, "sk-never-in-a-config")
    runner = SuiteRunner(text_suite(), tmp_path, seeds=1, quick=True, quiet=True)
    method = next(m for m in runner.methods if m.name == "gen openai")
    resolved = resolve({**apply_overrides(runner.base, list(method.overrides)), "seed": 0})
    p = resolved.generator.params
    assert resolved.generator.name == "text.openai" and resolved.strategy.name == "core.train"
    assert (p.base_url, p.model, p.api_key_env) == ("http://127.0.0.1:8000/v1", "served-model", OPENAI_KEY_ENV)
    assert "text.perplexity" not in [s.name for s in resolved.selectors]
    assert "sk-never-in-a-config" not in json.dumps(resolved.resolved_dict())


def test_every_server_config_of_the_docs_resolves():
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "text.md").read_text()
    section = doc[doc.index("#### One config per server kind"):doc.index("#### What `transformers serve` does")]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)]
    assert len(blocks) == 6
    for block in blocks:
        resolved = resolve({"dataset": "text.builtin", **block})
        assert resolved.generator.name == "text.openai" and resolved.generator.params.base_url.startswith("http")
