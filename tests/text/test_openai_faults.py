"""text.openai when things go wrong: 429/503/dropped connections through a proxy in front of the real
server, and the server killed in the middle of a run (resume from the cache)."""

from __future__ import annotations

import threading
import time

import pytest
from openai_server import FaultProxy, openai_config, write_table
from text_helpers import context

from gda_core.errors import GDAError
from gda_core.pipeline import run
from gda_text.generators.openai import OpenAIGenerator
from gda_text.openai_api import ResponseCache

FAULTS = ["429", "503", "drop", "drop-after", "429", "503", "drop", "drop-after"]


@pytest.fixture(scope="module")
def table(tmp_path_factory, toy):
    return write_table(tmp_path_factory.mktemp("table") / "toy.csv", toy)


def test_retries_through_429_503_and_dropped_connections_change_nothing(tmp_path, toy, openai_server):
    """Greedy decoding (the same reply to the same request whatever the order): a run through faults
    ends with the records of a run without them, one cache entry per request, one retry per fault."""
    proxy = FaultProxy(openai_server.root)
    conds = [{"label": "food"}] * 8 + [{"label": "weather"}] * 8
    try:
        def make(folder):
            gen = OpenAIGenerator(base_url=proxy.url, model=str(openai_server.model), temperature=0, shots=3,
                                  samples_per_prompt=2, max_new_tokens=8, max_rounds=1, concurrency=4,
                                  backoff=0.05, max_retries=4, cache_dir=str(folder))
            gen.name = "text.openai"
            gen.fit(toy, context(toy))
            return gen

        clean = make(tmp_path / "clean")
        expected = clean.generate(conds, seed=2, context=context(toy))
        n = clean.stats_["requests"]
        assert n == 8 and len(proxy.seen) == n
        proxy.seen.clear()
        proxy.faults = list(FAULTS)
        faulty = make(tmp_path / "faulty")
        t0 = time.perf_counter()
        got = faulty.generate(conds, seed=2, context=context(toy))
        took = time.perf_counter() - t0
    finally:
        proxy.close()
    assert [r.data for r in got] == [r.data for r in expected]
    assert [r.meta["request"] for r in got] == [r.meta["request"] for r in expected]
    s = faulty.stats_
    assert s["requests"] == s["sent"] == n and s["attempts"] == n + len(FAULTS)
    assert s["retries"] == {"HTTP 429": 2, "HTTP 503": 2, "connection dropped": 4}
    assert len(proxy.seen) == n + len(FAULTS)  # every fault cost one request more, nothing else was repeated
    assert sum(seen["fault"] == "drop-after" for seen in proxy.seen) == 2
    assert proxy.forwarded == n + n + 2  # the clean run, the faulty run, and the two answers lost on the way back
    assert len(list(ResponseCache(tmp_path / "faulty").entries())) == n
    assert took >= 1.0  # the two 429s asked to wait a second (Retry-After: 1)


def test_server_killed_mid_run_then_resumed_from_the_cache(tmp_path, table, openai_server):
    """Seeded sampling with one request in flight (transformers serve sets the torch seed per request):
    kill the server after a few answers, the run stops with an error naming the URL; start the server
    again and resume: only the missing requests are sent and the manifest is the one of a run that was
    never interrupted."""
    cfg = openai_config(table, openai_server.url, str(openai_server.model))
    killed = tmp_path / "killed"
    cache = killed / "requests" / "cache"

    def kill_after_three():
        while openai_server.alive():
            if len(list(cache.rglob("*.json"))) >= 3:
                openai_server.kill()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_after_three, daemon=True)
    watcher.start()
    try:
        with pytest.raises(GDAError) as err:
            run(cfg, killed, quiet=True)
        watcher.join(10)
        assert openai_server.url in str(err.value) and "\n" not in str(err.value)
        answered = len(list(cache.rglob("*.json")))
        assert answered >= 3
    finally:
        openai_server.kill()
        openai_server.start()  # the same port: the same base_url, the same cache keys
    resumed = run(cfg, killed, quiet=True)
    sent_on_resume = openai_server.posts()
    run(cfg, tmp_path / "whole", quiet=True)
    total = openai_server.posts() - sent_on_resume
    assert (killed / "manifest.jsonl").read_bytes() == (tmp_path / "whole" / "manifest.jsonl").read_bytes()
    assert len(resumed.synthetic) == 12
    assert sent_on_resume == total - answered  # nothing answered before the kill was sent again
    assert len(list(cache.rglob("*.json"))) == total


def test_giving_up_after_retries_is_one_line_with_the_causes(toy, openai_server):
    proxy = FaultProxy(openai_server.root)
    proxy.faults = ["500", "500", "429", "503"]
    try:
        gen = OpenAIGenerator(base_url=proxy.url, model=str(openai_server.model), max_retries=1, backoff=0.01)
        gen.fit(toy, context(toy))
        with pytest.raises(GDAError) as err:  # transformers serve answers 500 to chat without a chat template
            gen.generate([{"label": "food"}], seed=0, context=context(toy))
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(f"{proxy.url}/chat/completions failed 2 tries in a row for model")
        assert "(HTTP 500: 2) (last: Internal Server Error)" in msg and "mode=completion" in msg
        with pytest.raises(GDAError, match=r"failed 2 tries in a row .*\(HTTP 429: 1, HTTP 503: 1\) "
                           r"\(last: overloaded\); raise generator.params.max_retries"):
            gen.generate([{"label": "food"}], seed=0, context=context(toy))
    finally:
        proxy.close()
