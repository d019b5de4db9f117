"""gda-text's ``gda bench`` suite: the shipped customer-support set (no heavy import here)."""

from __future__ import annotations

import json
import os

from gda_core.bench import (
    DownstreamModel,
    Method,
    Suite,
    near_copy_method,
    selector_method,
    selector_methods,
    standard_methods,
)

OPENAI_URL_ENV = "GDA_BENCH_OPENAI_URL"
OPENAI_MODEL_ENV = "GDA_BENCH_OPENAI_MODEL"
OPENAI_KEY_ENV = "GDA_BENCH_OPENAI_API_KEY"
"""``gda bench text`` runs its ``gen openai`` method when these name a server and a model (the key, when
the server wants one, in the third; its name, never its value, goes into the config)."""


def openai_method() -> Method:
    """Few-shot generation by the model at ``$GDA_BENCH_OPENAI_URL`` (``text.openai``, chat, 5 samples
    per request, 8 in flight), selected like the base chain without the perplexity selector (which
    needs an in-process LM); listed as not run while the variables are unset."""
    params = {"base_url": os.environ.get(OPENAI_URL_ENV) or "http://127.0.0.1:8000/v1",
              "model": os.environ.get(OPENAI_MODEL_ENV) or "unset", "temperature": 1.0, "top_p": 0.95,
              "shots": 5, "samples_per_prompt": 5, "max_new_tokens": 40, "concurrency": 8,
              "api_key_env": OPENAI_KEY_ENV if os.environ.get(OPENAI_KEY_ENV) else None}
    selectors = ["text.format", {"name": "core.dedup", "params": {"real_ratio": 0.2, "self_ratio": 0.2}},
                 {"name": "core.confidence", "params": {"keep": 0.2, "threshold": None}}]
    return Method("gen openai", "generative", stage="each", summary="few-shot prompts to a served LLM "
                  f"(text.openai at ${OPENAI_URL_ENV}, model ${OPENAI_MODEL_ENV})",
                  overrides=(f"generator={json.dumps({'name': 'text.openai', 'params': params})}",
                             "strategy=core.train", f"selectors={json.dumps(selectors)}"),
                  requires=("generators:text.openai", f"env:{OPENAI_URL_ENV}", f"env:{OPENAI_MODEL_ENV}"))


def text_suite() -> Suite:
    """The shipped support set (4 intents, 25 training and 50 test texts each; each run seed draws
    10 labelled texts per class from the 25), LAMBADA-style (5x the real count per class)
    generation (a small GPT-2 trained from scratch, then LoRA on label-prefixed texts), format,
    perplexity, de-duplication and confidence selection, nlpaug as the classical baseline;
    logistic regression on MiniLM sentence embeddings and on TF-IDF downstream. Pool variants: the
    LM also learns the 15 unlabelled texts per class, or LoRA on confidently pseudo-labelled ones;
    self-training labels the pool with no generator. ``gen openai`` prompts a served LLM (text.openai)
    when ``$GDA_BENCH_OPENAI_URL`` and ``$GDA_BENCH_OPENAI_MODEL`` are set."""
    return Suite(
        name="text",
        summary="support intents, 10 of 25 per class, text.prompt + text.lora; MiniLM + LR and TF-IDF + LR",
        config={
            "dataset": {"name": "text.builtin", "params": {"k_shot": 10}},
            "generator": {"name": "text.prompt", "params": {
                "model": None, "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 40, "batch_size": 32}},
            "strategy": {"name": "text.lora", "params": {"r": 8, "alpha": 16, "epochs": 10, "lr": 0.002,
                                                          "scratch": {"epochs": 40}}},
            "generate": {"per_class": 50, "shard_size": 100},
            "selectors": ["text.format", {"name": "text.perplexity", "params": {"keep": 0.8}},
                          {"name": "core.dedup", "params": {"real_ratio": 0.2, "self_ratio": 0.2}},
                          {"name": "core.confidence", "params": {"keep": 0.2, "threshold": None}}],
            "baselines": ["text.nlpaug"],
            "application": "text.classifier",
            "embedder": "text.embedder",
        },
        downstream=[
            DownstreamModel("minilm-logreg", {"name": "text.classifier", "params": {"model": "embedding-logreg"}},
                            strong=True),
            DownstreamModel("tfidf-logreg", {"name": "text.classifier", "params": {"model": "tfidf-logreg"}}),
        ],
        methods=standard_methods(
            Method("gen pool texts", "generative", overrides=("strategy.params.pool=texts",),
                   requires=("strategies:text.lora#pool",),
                   summary="the LM also learns the unlabelled pool's texts (no label prefix)"),
            Method("gen pool pseudo-label", "generative", overrides=("strategy.params.pool=pseudo-label",),
                   requires=("strategies:text.lora#pool",),
                   summary="LoRA on labelled + confidently pseudo-labelled pool texts"),
            near_copy_method("[text.format, core.near-copy, {name: core.confidence, "
                             "params: {keep: 0.2, threshold: null}}]"),
            openai_method(),
            *selector_methods(dedup={"real_ratio": 0.2, "self_ratio": 0.2}, extra=(
                selector_method("format", "text.format", summary="texts that break a length or format rule dropped"),
                selector_method("perplexity", {"name": "text.perplexity", "params": {"keep": 0.8}},
                                summary="the 20% of each class the run's LM finds least likely dropped"))),
        ),
        quick=("strategy.params.scratch.epochs=4", "strategy.params.epochs=2", "generate.per_class=25"),
        quick_ratios=(0.5, 1.0, 2.0),
        ratios=(0.5, 1.0, 2.0, 5.0),
        memory_gb=3.0,
    )
