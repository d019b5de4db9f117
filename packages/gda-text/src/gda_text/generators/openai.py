"""``text.openai``: text samples from a language model behind an OpenAI-compatible server (vLLM,
llama.cpp server, Ollama, TGI, ``transformers serve``, a hosted API), prompted like ``text.prompt``."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from gda_core.components import SAMPLING, Generator, Table
from gda_core.errors import GDAError
from gda_core.records import Record

from ..openai_api import Endpoint, ResponseCache, ServerError
from ..prompts import (
    DEFAULT_INSTRUCTION,
    REJECTION_REASONS,
    PromptTemplateParams,
    assign,
    by_class,
    class_texts,
    draw,
    label_name,
    parse_json_samples,
    pool_texts,
    render,
    screen,
    split_lines,
)

if TYPE_CHECKING:
    from gda_core.components import Params
    from gda_core.context import RunContext
    from gda_core.records import Dataset

log = logging.getLogger("gda")

STATE_FILE = "text_openai_state.json"
REQUESTS_DIR = "requests"
"""The run folder's ``requests/``: ``cache/`` (one JSON file per answered request) and ``calls/``
(what each generate call asked, sent and rejected: the report's table)."""
DEFAULT_JSON_INSTRUCTION = (
    "Write {k} new, varied examples of {label} messages. Keep them similar in style to the examples below but "
    "do not copy them.\n\nExamples:\n{examples}\n\nAnswer with JSON only, in this form: "
    '{{"samples": [{{"text": "...", "label": "{label}"}}]}}')
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def json_schema() -> dict[str, Any]:
    """The JSON schema of a reply: ``{"samples": [{"text": ..., "label": ...}]}``."""
    item = {"type": "object", "properties": {"text": {"type": "string"}, "label": {"type": "string"}},
            "required": ["text", "label"], "additionalProperties": False}
    return {"type": "object", "properties": {"samples": {"type": "array", "items": item}},
            "required": ["samples"], "additionalProperties": False}


class OpenAIParams(PromptTemplateParams):
    # fit only keeps the real texts: every parameter is a sampling parameter
    model_config = ConfigDict(json_schema_extra=SAMPLING)

    base_url: str = Field(..., description="the server's OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(..., min_length=1, description="the model name the server knows (GET {base_url}/models "
                       "lists them)")
    api_key_env: str | None = Field(None, description="the NAME of the environment variable holding the API key, "
                                    "never the key itself (None: send no key)")
    mode: Literal["chat", "completion"] = Field("chat", description="POST /chat/completions with the "
                                                "instruction, or /completions with the few-shot template")
    instruction: str | None = Field(None, description="user message in chat mode; fields {label}, {examples}, "
                                    "{n}, {k}, {description}, {unlabelled} (None: text.prompt's instruction, or "
                                    "its JSON variant with output=json)")
    output: Literal["lines", "json"] = Field("lines", description="replies hold one sample per line, or JSON "
                                             '{"samples": [{"text", "label"}]}')
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", description="with output=json in chat mode: the response_format sent (a server that "
        "refuses it is asked again without; a reply that is not JSON is read as lines)")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    max_new_tokens: int = Field(48, gt=0, description="tokens per sample (a request asks for "
                                "max_new_tokens * samples_per_prompt)")
    stop: list[str] = Field(default_factory=list, description="stop strings")
    seed: bool = Field(True, description="send a per-request seed drawn from the run seed (servers that honour "
                       "it give the same reply again)")
    choices: int = Field(1, gt=0, description="completions per request (the API's n; servers without it give 1)")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="more request fields for one server "
                                       "kind (vLLM's top_k, ...); never a key")
    concurrency: int = Field(4, gt=0, le=256, description="requests in flight at once")
    timeout: float = Field(120.0, gt=0, description="seconds a request may take")
    max_retries: int = Field(6, ge=0, description="retries of a request on 429/5xx/timeouts/dropped connections")
    backoff: float = Field(1.0, ge=0, description="first retry wait in seconds (doubled per retry, jittered)")
    max_backoff: float = Field(60.0, ge=0, description="longest retry wait in seconds (Retry-After wins)")
    cache_dir: str | None = Field(None, description="folder of the response cache (None: the run folder's "
                                  "requests/cache); share one between runs to reuse paid answers")
    price_in_per_million: float | None = Field(None, ge=0, description="price per million prompt tokens, for "
                                               "the report's cost estimate")
    price_out_per_million: float | None = Field(None, ge=0, description="price per million completion tokens")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials; put the key in an environment variable and name it "
                             "in api_key_env")
        if any(any(w in k.lower() for w in _SECRET_WORDS) for k, _ in parse_qsl(parts.query)):
            raise ValueError("must not hold a key in its query; put the key in an environment variable and name "
                             "it in api_key_env")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable (letters, digits and _, at most 64), "
                             "not the key itself")
        return v

    @field_validator("extra_body")
    @classmethod
    def _no_secret(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if any(w in k.lower() for w in _SECRET_WORDS)]
        if bad:
            raise ValueError(f"must not hold {bad[0]!r}: keys go in an environment variable named by api_key_env")
        return v


def request_seed(seed: int, rnd: int, j: int) -> int:
    """The seed sent with request ``j`` of round ``rnd`` of a generate call seeded ``seed``."""
    return int(np.random.SeedSequence([seed, rnd, j]).generate_state(1)[0] % (2 ** 31 - 1))


class OpenAIGenerator(Generator):
    """Text samples from a model served through the OpenAI API (chat or completions).

    Each request carries a few-shot prompt built like ``text.prompt``'s (real examples of the
    intended class drawn with the run seed, a class description and unlabelled pool texts where
    given) and asks for ``samples_per_prompt`` samples, read one per line or as JSON; rejected
    candidates are counted by reason. Requests run ``concurrency`` at a time and are retried with
    exponential backoff and jitter (``Retry-After`` honoured); every answer is kept in the run
    folder's response cache, so a killed run resumes without sending again what was answered, and a
    rerun with the same seed is identical. The API key is read from the environment variable that
    ``api_key_env`` names and written nowhere."""

    Params = OpenAIParams
    version = "1"

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.examples_: dict[str, list[str]] | None = None
        self.pool_: list[str] = []
        self.stats_: dict[str, Any] = {}
        self._no_response_format = False

    # -- fitting and state ----------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        """Keep the real texts of each class (and the pool's) for the prompts; nothing is sent."""
        self.examples_ = class_texts(train)
        self.pool_ = pool_texts(context)

    def save_state(self, path: Path) -> None:
        (path / STATE_FILE).write_text(json.dumps({"examples": self.examples_ or {}, "pool": self.pool_},
                                                  indent=1, ensure_ascii=False), encoding="utf-8")

    def load_state(self, path: Path) -> None:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        self.examples_, self.pool_ = state["examples"], state.get("pool", [])

    # -- requests -------------------------------------------------------------

    @property
    def instruction(self) -> str:
        p = self.params
        if p.instruction is not None:
            return p.instruction
        return DEFAULT_JSON_INSTRUCTION if p.output == "json" else DEFAULT_INSTRUCTION

    def build_request(self, label: Any, examples: Sequence[str], unlabelled: Sequence[str] = (),
                      seed: int | None = None) -> tuple[str, dict[str, Any], str]:
        """``(path, body, prompt)`` of one request for samples of ``label``."""
        p = self.params
        if p.mode == "chat":
            prompt = render(p, self.instruction, label, examples, unlabelled)
            messages = ([{"role": "system", "content": p.system}] if p.system else []) + [
                {"role": "user", "content": prompt}]
            path, body = "/chat/completions", {"model": p.model, "messages": messages}
        else:
            prompt = render(p, p.template, label, examples, unlabelled)
            path, body = "/completions", {"model": p.model, "prompt": prompt}
        body.update(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_new_tokens * p.samples_per_prompt)
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed and seed is not None:
            body["seed"] = seed
        if p.choices > 1:
            body["n"] = p.choices
        if p.output == "json" and p.mode == "chat" and p.response_format != "none":
            body["response_format"] = ({"type": "json_object"} if p.response_format == "json_object" else
                                       {"type": "json_schema", "json_schema": {"name": "samples", "strict": True,
                                                                               "schema": json_schema()}})
        body.update(p.extra_body)
        return path, body, prompt

    def cache(self, context: RunContext) -> ResponseCache:
        """The response cache: ``cache_dir``, else the run folder's ``requests/cache`` (none outside a run)."""
        if self.params.cache_dir is not None:
            return ResponseCache(Path(self.params.cache_dir).expanduser())
        workdir = getattr(context, "workdir", None)
        return ResponseCache(Path(workdir) / REQUESTS_DIR / "cache" if workdir is not None else None)

    def endpoint(self) -> Endpoint:
        p = self.params
        return Endpoint(p.base_url, p.model, api_key_env=p.api_key_env, timeout=p.timeout,
                        max_retries=p.max_retries, backoff=p.backoff, max_backoff=p.max_backoff,
                        concurrency=p.concurrency)

    def _send(self, endpoint: Endpoint, cache: ResponseCache, key: str, path: str, body: dict[str, Any]):
        sent = body
        if self._no_response_format and "response_format" in body:
            sent = {k: v for k, v in body.items() if k != "response_format"}
        try:
            reply, outcome = endpoint.post(path, sent)
        except ServerError as exc:
            detail = str(getattr(exc, "detail", "")).lower()
            if getattr(exc, "status", None) not in (400, 422) or "response_format" not in detail or sent is not body:
                raise
            log.info("%s refuses response_format; asking without it (the prompt still asks for JSON)",
                     endpoint.url(path))
            self._no_response_format = True
            sent = {k: v for k, v in body.items() if k != "response_format"}
            reply, outcome = endpoint.post(path, sent)
            outcome["response_format_refused"] = True
        entry = {"key": key, "url": endpoint.url(path), "request": body, "response": reply, **outcome}
        if sent is not body:
            entry["sent"] = sent
        cache.put(key, entry)
        return entry

    def exchange(self, requests: Sequence[tuple[str, dict[str, Any]]],
                 context: RunContext) -> list[tuple[dict[str, Any], bool]]:
        """The reply entry of each ``(path, body)`` and whether it came from the cache: cached ones
        read back, the rest sent ``concurrency`` at a time (each cached as soon as it is answered)."""
        cache = self.cache(context)
        base = self.params.base_url
        keys = [ResponseCache.key(base + path, body) for path, body in requests]
        out: list[tuple[dict[str, Any], bool] | None] = [None] * len(requests)
        todo = []
        for i, key in enumerate(keys):
            hit = cache.get(key)
            if hit is not None:
                out[i] = (hit, True)
            else:
                todo.append(i)
        if todo:
            endpoint = self.endpoint()
            try:
                with ThreadPoolExecutor(max_workers=min(self.params.concurrency, len(todo)),
                                        thread_name_prefix="gda-openai") as pool:
                    futures = {pool.submit(self._send, endpoint, cache, keys[i], *requests[i]): i for i in todo}
                    try:
                        done = as_completed(futures)
                        if context is not None:
                            done = context.progress(done, desc=f"{self.name or 'text.openai'} requests",
                                                    total=len(futures))
                        for fut in done:
                            out[futures[fut]] = (fut.result(), False)
                    except BaseException as exc:
                        endpoint.stop()  # the others give up at their next wait; answered ones stay cached
                        for fut in futures:
                            fut.cancel()
                        if isinstance(exc, KeyboardInterrupt):
                            endpoint.close()  # Ctrl-C: abort the requests in flight rather than wait for them
                        raise
            finally:
                endpoint.close()
        assert all(o is not None for o in out)
        return out  # type: ignore[return-value]

    # -- parsing --------------------------------------------------------------

    def reply_texts(self, reply: dict[str, Any]) -> list[str]:
        """The text of each choice of a reply (chat: the message content; completion: the text)."""
        out = []
        for choice in reply.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            if self.params.mode == "chat":
                text = (choice.get("message") or {}).get("content")
            else:
                text = choice.get("text")
            out.append(text if isinstance(text, str) else "")
        return out or [""]

    def candidates(self, text: str) -> tuple[list[tuple[str, str | None]], bool]:
        """The candidate samples of one reply text, and whether a JSON reply was asked for but not given
        (it is then read as lines)."""
        if not text.strip():
            return [("", None)], False
        if self.params.output == "json":
            parsed = parse_json_samples(text)
            if parsed is not None:
                return parsed, False
            return [(line, None) for line in split_lines(text)], True
        return [(line, None) for line in split_lines(text)], False

    # -- generating -----------------------------------------------------------

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("examples_")
        p = self.params
        if not self.examples_:
            raise GDAError(f"{self.name or 'text.openai'} has no real examples: fit it on a labelled training set")
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        wanted, labels = by_class(conditions)
        names = {" ".join(label_name(p, k).lower().split()): label_name(p, k) for k in self.examples_}
        pools: dict[str, list[tuple[str, str]]] = {k: [] for k in wanted}
        seen: dict[str, set[str]] = {k: set() for k in wanted}
        prompts: dict[str, str] = {}
        stats: dict[str, Any] = {"seed": seed, "requests": 0, "cache_hits": 0, "sent": 0, "attempts": 0,
                                 "retries": Counter(), "tokens_in": 0, "tokens_out": 0, "no_usage": 0,
                                 "asked": 0, "unwritten": 0, "accepted": 0, "rejected": Counter(), "not_json": 0,
                                 "response_format_refused": 0, "rounds": 0}
        for rnd in range(p.max_rounds):
            plan = []
            for key, idx in wanted.items():
                missing = len(idx) - len(pools[key])
                real = self.examples_.get(key) or [t for ts in self.examples_.values() for t in ts]
                for _ in range(max(0, -(-missing // p.samples_per_prompt))):
                    examples = draw(rng, real, p.shots)
                    unlabelled = draw(rng, self.pool_, p.pool_shots)
                    path, body, prompt = self.build_request(labels[key], examples, unlabelled,
                                                            request_seed(seed, rnd, len(plan)))
                    plan.append((key, path, body, prompt))
            if not plan:
                break
            stats["rounds"] = rnd + 1
            replies = self.exchange([(path, body) for _, path, body, _ in plan], context)
            for (key, _path, _body, prompt), (entry, cached) in zip(plan, replies):
                self._count(stats, entry, cached)
                prompts[entry["key"]] = prompt
                real_norm = {" ".join(t.lower().split()) for t in self.examples_.get(key, [])}
                for text in self.reply_texts(entry["response"]):
                    cands, not_json = self.candidates(text)
                    stats["not_json"] += int(not_json)
                    accepted, why = screen(cands, label=label_name(p, labels[key]), names=names, real=real_norm,
                                           seen=seen[key], min_chars=p.min_chars, limit=p.samples_per_prompt)
                    stats["asked"] += p.samples_per_prompt
                    stats["unwritten"] += max(0, p.samples_per_prompt - len(cands))
                    stats["accepted"] += len(accepted)
                    stats["rejected"].update(why)
                    pools[key] += [(t, entry["key"]) for t in accepted]
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        self._save_stats(stats, context)
        if stats["retries"]:
            log.warning("%s: %d requests, %d from the cache, %d retries (%s)", self.name or "text.openai",
                     stats["requests"], stats["cache_hits"], sum(stats["retries"].values()),
                     ", ".join(f"{k}: {v}" for k, v in stats["retries"].items()))
        return [Record(id="", data=text, label=cond.get("label"),
                       meta={"request": key[:16], "prompt": prompts.get(key, ""), "empty": not text})
                for cond, (text, key) in zip(conditions, assign(conditions, wanted, pools))]

    @staticmethod
    def _count(stats: dict[str, Any], entry: dict[str, Any], cached: bool) -> None:
        stats["requests"] += 1
        if cached:
            stats["cache_hits"] += 1
        else:
            stats["sent"] += 1
            stats["attempts"] += int(entry.get("attempts", 1))
            stats["retries"].update(entry.get("retries") or {})
            stats["response_format_refused"] += int(bool(entry.get("response_format_refused")))
        usage = (entry.get("response") or {}).get("usage") or {}
        if isinstance(usage.get("prompt_tokens"), int):
            stats["tokens_in"] += usage["prompt_tokens"]
            stats["tokens_out"] += int(usage.get("completion_tokens") or 0)
        else:
            stats["no_usage"] += 1

    def _save_stats(self, stats: dict[str, Any], context) -> None:
        self.stats_ = stats
        workdir = getattr(context, "workdir", None)
        if workdir is None:
            return
        from gda_core.runfolder import write_json

        write_json(Path(workdir) / REQUESTS_DIR / "calls" / f"seed-{stats['seed']}.json",
                   {**stats, "retries": dict(stats["retries"]), "rejected": dict(stats["rejected"])})

    # -- the report -----------------------------------------------------------

    def report_tables(self, folder: Path, records: Sequence[Record]) -> list[Table]:
        """Requests, cache hits, retries, tokens, wall time, rejections by reason and a cost estimate,
        from the generate calls of this run's shards (``requests/calls``)."""
        seeds = {r.provenance.seed for r in records}
        calls = []
        for path in sorted((Path(folder) / REQUESTS_DIR / "calls").glob("seed-*.json")):
            try:
                call = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if call.get("seed") in seeds:
                calls.append(call)
        if not calls:
            return []
        p = self.params

        def total(k: str) -> int:
            return sum(int(c.get(k, 0)) for c in calls)

        def summed(k: str) -> Counter:
            out: Counter = Counter()
            for c in calls:
                out.update(c.get(k) or {})
            return out

        n, hits = total("requests"), total("cache_hits")
        retries, rejected = summed("retries"), summed("rejected")
        t_in, t_out = total("tokens_in"), total("tokens_out")
        rows: list[list[Any]] = [
            ["server", f"{p.base_url} ({p.mode}), model {p.model}"],
            ["requests", f"{n} ({len(calls)} generate calls, concurrency {p.concurrency})"],
            ["answered from the cache", f"{hits} ({100 * hits / max(1, n):.0f}%)"],
            ["sent to the server", f"{total('sent')} ({total('attempts')} attempts)"],
            ["retries", f"{sum(retries.values())}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(retries.items()))})"
                                                      if retries else "")],
            ["tokens in / out", f"{t_in} / {t_out}" + (f" ({total('no_usage')} replies gave no usage)"
                                                       if total("no_usage") else "")],
            ["wall time", f"{sum(float(c.get('seconds', 0)) for c in calls):.1f} s"],
            ["samples asked / accepted", f"{total('asked')} / {total('accepted')}"],
            ["asked but not written (replies with fewer samples)", total("unwritten")],
            ["rejected", ", ".join(f"{k}: {rejected[k]}" for k in REJECTION_REASONS if rejected.get(k)) or "none"],
        ]
        if p.output == "json":
            rows.append(["replies not JSON (read as lines)", total("not_json")])
            if total("response_format_refused"):
                rows.append(["response_format refused (asked again without)", total("response_format_refused")])
        if p.price_in_per_million is not None or p.price_out_per_million is not None:
            cost = (t_in * (p.price_in_per_million or 0) + t_out * (p.price_out_per_million or 0)) / 1e6
            rows.append(["cost estimate", f"{cost:.4g} (tokens x price per million: {p.price_in_per_million or 0:g} "
                                          f"in, {p.price_out_per_million or 0:g} out)"])
        else:
            rows.append(["cost estimate", "none: set price_in_per_million and price_out_per_million"])
        return [Table(f"Requests to the server ({self.name or 'text.openai'})", ["quantity", "value"], rows)]
