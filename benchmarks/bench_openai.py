"""text.openai throughput: samples per second at 1, 4 and 16 requests in flight against a local server.

By default it builds a small GPT-2 (BPE tokenizer and weights trained for a few epochs on the shipped
support texts, a chat template, 512 positions), starts ``transformers serve`` on it (CPU, 127.0.0.1, a
free port), times the start (``--starts`` times), then sends the same number of chat requests through
``text.openai`` at each concurrency (no cache, one round, so every request reaches the server) and
prints a Markdown table with the load average beside it. ``--url``/``--model`` measure another server
(vLLM, llama.cpp, Ollama...) instead; ``--json`` prints one JSON line too.

    python benchmarks/bench_openai.py [--requests 48] [--concurrency 1 4 16] [--starts 2] [--continuous-batching]
    python benchmarks/bench_openai.py --url http://127.0.0.1:8000/v1 --model my-model
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def support_texts():
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_text.datasets import SupportTicketsDataset

    return SupportTicketsDataset().load(RunContext(train=Dataset([]), quiet=True)).train


def build_model(folder: Path, texts: list[str], epochs: int = 3) -> Path:
    from gda_text.lm import build_gpt2, train_causal_lm, train_tokenizer

    tok = train_tokenizer(texts, vocab_size=1000)
    tok.chat_template = CHAT_TEMPLATE
    model = build_gpt2(tok, n_layer=2, n_embd=64, n_head=2, n_positions=512, seed=0)
    train_causal_lm(model, tok, texts, epochs=epochs, lr=5e-3, batch_size=16, max_length=64, seed=0)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, log: Path, extra: list[str]) -> tuple[subprocess.Popen, float]:
    import httpx

    exe = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", *extra], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"transformers serve exited: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure(url: str, model: str, train, n_requests: int, concurrency: int, per_request: int, seed: int,
            api_key_env: str | None, extra_body: dict | None = None, tokens: int = 48) -> dict:
    from gda_core.context import RunContext
    from gda_text.generators.openai import OpenAIGenerator

    gen = OpenAIGenerator(base_url=url, model=model, api_key_env=api_key_env, concurrency=concurrency,
                          samples_per_prompt=per_request, shots=3, max_new_tokens=max(1, tokens // per_request),
                          max_rounds=1, extra_body=extra_body or {})
    gen.name = "text.openai"
    ctx = RunContext(train=train, seed=seed, quiet=True)
    gen.fit(train, ctx)
    classes = list(train.classes)
    conds = [{"label": classes[i % len(classes)]} for i in range(n_requests * per_request)]
    t0 = time.perf_counter()
    gen.generate(conds, seed=seed, context=ctx)
    took = time.perf_counter() - t0
    s = gen.stats_
    return {"concurrency": concurrency, "requests": s["requests"], "seconds": round(took, 2),
            "requests_per_s": round(s["requests"] / took, 2), "samples_per_s": round(s["accepted"] / took, 2),
            "asked_per_s": round(s["asked"] / took, 2), "tokens_out_per_s": round(s["tokens_out"] / took, 1),
            "accepted": s["accepted"], "retries": sum(s["retries"].values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an OpenAI-compatible API root (default: start transformers serve)")
    ap.add_argument("--model", help="the served model's name (with --url)")
    ap.add_argument("--api-key-env", help="the NAME of the environment variable holding the key (with --url)")
    ap.add_argument("--requests", type=int, default=48, help="requests per concurrency level")
    ap.add_argument("--per-request", type=int, default=2, help="samples asked per request")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--starts", type=int, default=2, help="server starts to time (local server only)")
    ap.add_argument("--continuous-batching", action="store_true", help="start transformers serve with "
                    "--continuous-batching (requests in flight decoded together)")
    ap.add_argument("--tokens", type=int, default=48, help="tokens per request (max_tokens); the local server "
                    "decodes all of them (min_new_tokens through transformers serve's generation_config field)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    train = support_texts()
    load0 = os.getloadavg()
    starts: list[float] = []
    proc = None
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        if args.url:
            url, model = args.url, args.model
            if not model:
                raise SystemExit("--url needs --model")
        else:
            t0 = time.perf_counter()
            model_dir = build_model(Path(tmp) / "model", train.texts())
            print(f"built the served model in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            port = free_port()
            for i in range(max(1, args.starts)):
                if proc is not None:
                    stop(proc)
                proc, took = start_server(model_dir, port, Path(tmp) / f"serve-{i}.log",
                                          ["--continuous-batching"] if args.continuous_batching else [])
                starts.append(round(took, 1))
                print(f"transformers serve ready after {took:.1f} s", file=sys.stderr)
            url, model = f"http://127.0.0.1:{port}/v1", str(model_dir)
        # the tiny model stops after a token or two: make every request decode --tokens tokens
        extra = None if args.url else {"generation_config": json.dumps(
            {"max_new_tokens": args.tokens, "min_new_tokens": args.tokens, "do_sample": True})}
        try:
            measure(url, model, train, 4, 1, args.per_request, 99, args.api_key_env, extra, args.tokens)  # warm-up
            rows = [measure(url, model, train, args.requests, c, args.per_request, 0, args.api_key_env, extra,
                            args.tokens) for c in args.concurrency]
        finally:
            if proc is not None:
                stop(proc)
    load1 = os.getloadavg()
    cb = ", --continuous-batching" if args.continuous_batching else ""
    where = args.url or (f"transformers serve{cb} (local CPU, GPT-2 of 2 layers x 64, OMP_NUM_THREADS=1, "
                         f"{args.tokens} tokens per request)")
    print(f"\n{where}; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end; "
          f"{os.cpu_count()} CPUs" + (f"; server start: {', '.join(f'{s} s' for s in starts)}" if starts else ""))
    print("\n| in flight | requests | seconds | requests/s | samples asked/s | samples accepted/s | tokens out/s | "
          "retries |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['requests']} | {r['seconds']} | {r['requests_per_s']} | "
              f"{r['asked_per_s']} | {r['samples_per_s']} | {r['tokens_out_per_s']} | {r['retries']} |")
    if args.json:
        print(json.dumps({"server": where, "starts_s": starts, "load": [load0[0], load1[0]], "rows": rows}))


if __name__ == "__main__":
    main()
