"""text.openai against a real OpenAI-compatible server: ``transformers serve`` with a tiny GPT-2 the tests
build (conftest ``openai_server``), end to end through ``gda run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from openai_server import FaultProxy, free_port, openai_config, write_table
from text_helpers import context

from gda_core.errors import GDAError
from gda_core.pipeline import run
from gda_core.testing import GeneratorContract
from gda_text.generators.openai import OpenAIGenerator

KEY_ENV = "GDA_TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def table(tmp_path_factory, toy):
    return write_table(tmp_path_factory.mktemp("table") / "toy.csv", toy)


def _every_byte(folder: Path) -> bytes:
    return b"\n".join([str(p.relative_to(folder)).encode() + b"\0" + (p.read_bytes() if p.is_file() else b"")
                       for p in sorted(folder.rglob("*"))])


def test_gda_run_end_to_end_then_a_rerun_answers_everything_from_the_cache(tmp_path, table, openai_server):
    """`gda run` through a pass-through proxy (which sees the key): samples, a report table of the requests,
    the key nowhere in the folder; then a new run sharing the first one's cache, with the server gone,
    gives a byte-identical manifest."""
    secret = f"sk-canary-{uuid.uuid4().hex}"
    proxy = FaultProxy(openai_server.root)
    try:
        cfg = openai_config(table, proxy.url, str(openai_server.model), api_key_env=KEY_ENV,
                            price_in_per_million=0.5, price_out_per_million=1.5)
        (tmp_path / "run.json").write_text(json.dumps(cfg))
        first = tmp_path / "first"
        env = {**os.environ, KEY_ENV: secret}
        done = subprocess.run([sys.executable, "-m", "gda_core.cli", "run", str(tmp_path / "run.json"), "-o",
                               str(first), "--quiet"], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert proxy.seen and {s["authorization"] for s in proxy.seen} == {f"Bearer {secret}"}
        sent = len(proxy.seen)
    finally:
        proxy.close()
    rows = [json.loads(line) for line in (first / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["label"] for r in rows} == {"food", "weather"}
    assert all(r["generator"] == "text.openai" and isinstance(r["text"], str) for r in rows)
    assert sum(bool(r["text"]) for r in rows) >= 6
    entries = list((first / "requests" / "cache").rglob("*.json"))
    assert len(entries) == sent  # one cache file per request the server answered
    report = (first / "report.md").read_text()
    assert "Requests to the server (text.openai)" in report
    assert f"| sent to the server | {sent} ({sent} attempts) |" in report
    assert "| answered from the cache | 0 (0%) |" in report and "| cost estimate | " in report
    blob = _every_byte(first)
    assert secret.encode() not in blob and KEY_ENV.encode() in (first / "config.yaml").read_bytes()
    # a new run with the first one's cache: the proxy (the URL the cache is keyed by) is closed
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, secret)
        again = run({**cfg, "generator": {"name": "text.openai", "params": {
            **cfg["generator"]["params"], "cache_dir": str(first / "requests" / "cache")}}},
            tmp_path / "again", quiet=True)
    assert (tmp_path / "again" / "manifest.jsonl").read_bytes() == (first / "manifest.jsonl").read_bytes()
    assert len(again.synthetic) == 12
    assert f"| answered from the cache | {sent} (100%) |" in (tmp_path / "again" / "report.md").read_text()


def test_json_output_detects_a_server_that_ignores_or_refuses_response_format(toy, openai_server):
    """transformers serve accepts response_format and ignores it: replies are read as lines and counted;
    a server that refuses it (the proxy answers 422) is asked again without it."""
    gen = OpenAIGenerator(base_url=openai_server.url, model=str(openai_server.model), output="json", shots=2,
                          samples_per_prompt=2, max_new_tokens=8, max_rounds=1)
    ctx = context(toy)
    gen.fit(toy, ctx)
    out = gen.generate([{"label": "food"}] * 4, seed=0, context=ctx)
    assert len(out) == 4 and gen.stats_["not_json"] == gen.stats_["requests"] == 2
    proxy = FaultProxy(openai_server.root)
    proxy.refuse_response_format = True
    try:
        gen = OpenAIGenerator(base_url=proxy.url, model=str(openai_server.model), output="json", shots=2,
                              samples_per_prompt=2, max_new_tokens=8, max_rounds=1, concurrency=1)
        gen.fit(toy, ctx)
        assert len(gen.generate([{"label": "food"}] * 6, seed=0, context=ctx)) == 6
    finally:
        proxy.close()
    with_rf = [s for s in proxy.seen if "response_format" in s["body"]]
    without = [s for s in proxy.seen if "response_format" not in s["body"]]
    assert len(with_rf) == 1 and len(without) == 3  # refused once, then never sent again
    assert gen.stats_["response_format_refused"] == 1 and gen.stats_["sent"] == 3


def test_completion_mode_uses_v1_completions_with_the_few_shot_template(toy, openai_server):
    proxy = FaultProxy(openai_server.root)
    try:
        gen = OpenAIGenerator(base_url=proxy.url, model=str(openai_server.model), mode="completion", shots=2,
                              samples_per_prompt=2, max_new_tokens=8, max_rounds=1, stop=["\n\n"])
        ctx = context(toy)
        gen.fit(toy, ctx)
        out = gen.generate([{"label": "weather"}] * 2, seed=1, context=ctx)
    finally:
        proxy.close()
    assert len(out) == 2 and proxy.seen[0]["path"] == "/v1/completions"
    assert proxy.seen[0]["body"]["prompt"].startswith("Here are 2 examples of weather messages")
    assert gen.stats_["tokens_in"] > 0


def test_a_wrong_model_and_a_dead_port_are_one_line_each(toy, openai_server):
    ctx = context(toy)
    wrong = OpenAIGenerator(base_url=openai_server.url, model="no-such-model", max_retries=1, backoff=0.01)
    wrong.fit(toy, ctx)
    with pytest.raises(GDAError) as err:
        wrong.generate([{"label": "food"}], seed=0, context=ctx)
    msg = str(err.value)
    assert "\n" not in msg and openai_server.url in msg and "'no-such-model'" in msg
    assert f"the server serves: {openai_server.model}" in msg
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gone = OpenAIGenerator(base_url=dead, model="m", max_retries=2, backoff=0.01)
    gone.fit(toy, ctx)
    with pytest.raises(GDAError) as err:
        gone.generate([{"label": "food"}], seed=0, context=ctx)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"cannot reach {dead}/chat/completions (connection refused: 3;")
    assert "generator.params.base_url" in msg


class TestOpenAI(GeneratorContract):
    """text.openai against the session's real server (``transformers serve``): one request in flight, so
    the server's per-request seed gives the same reply again without a cache."""

    name = "text.openai"
    plugins = ("gda-text",)

    @pytest.fixture(autouse=True)
    def _server(self, openai_server):
        type(self).params = {"base_url": openai_server.url, "model": str(openai_server.model), "concurrency": 1,
                             "shots": 2, "samples_per_prompt": 2, "max_new_tokens": 8, "max_rounds": 2}

    def train_data(self):
        from text_helpers import toy_dataset

        return toy_dataset(6, seed=3)
