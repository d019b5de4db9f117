"""Prompts shared by the language-model generators: ``text.prompt`` (a model in-process) and
``text.openai`` (a model behind an OpenAI-compatible server) build the same prompts from the same
parameters, so the two are interchangeable in a config.

A prompt holds a few real examples of the intended class (drawn per prompt with the run seed),
optionally a description of the class and a few unlabelled texts of the data set's pool as context.
A completion is read one sample per line (or as JSON, :func:`parse_json_samples`), and each candidate
is screened (:func:`screen`): empty, too short, a refusal, the wrong label, or a duplicate.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from gda_core.components import SAMPLING, Params

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset

DEFAULT_TEMPLATE = "Here are {n} examples of {label} messages, one per line.\n{examples}\n"
DEFAULT_INSTRUCTION = ("Write {k} new, varied examples of {label} messages. Keep them similar in style to the "
                       "examples below but do not copy them. Write one example per line, with no numbering and "
                       "nothing else.\n\nExamples:\n{examples}")
DEFAULT_DESCRIPTION = "{label} messages: {description}\n\n"
DEFAULT_UNLABELLED = "Messages from the same source, of any kind, for context:\n{unlabelled}\n\n"
_BULLET = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d{1,3}[.):]|[a-z][.)])\s+", re.IGNORECASE)
_REFUSAL = re.compile(r"^\W*(?:i'?m sorry|i am sorry|sorry,? (?:but )?i|i apologi[sz]e|i can(?:no|')t\b|i cannot\b|"
                      r"i am (?:not able|unable)|i'?m (?:not able|unable)|i won'?t\b|as an ai\b|"
                      r"as a language model\b)", re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")

REJECTION_REASONS = ("empty", "too short", "refusal", "wrong label", "duplicate", "copy of a real text",
                     "beyond samples_per_prompt")
"""Why a candidate sample is rejected, in the order :func:`screen` checks."""


class PromptTemplateParams(Params):
    """The prompt parameters the LM generators share (same names, same meaning)."""

    template: str = Field(DEFAULT_TEMPLATE, description="few-shot prompt for plain LMs (completion); fields "
                          "{label}, {examples}, {n}, {k}, {description}, {unlabelled}")
    instruction: str = Field(DEFAULT_INSTRUCTION, description="user message for chat models; fields {label}, "
                             "{examples}, {n}, {k}, {description}, {unlabelled}")
    system: str | None = Field(None, description="system message for chat models")
    example_format: str = Field("- {text}", description="how each real example is written into a prompt")
    label_names: dict[str, str] = Field(default_factory=dict, description="label value -> name used in prompts")
    label_descriptions: dict[str, str] = Field(default_factory=dict, description="label value -> a description "
                                               "of the class, written into its prompts")
    description_format: str = Field(DEFAULT_DESCRIPTION, description="how a class description leads a prompt "
                                    "whose template has no {description} field")
    pool_shots: int = Field(0, ge=0, description="unlabelled pool texts shown per prompt as context (0: none; "
                            "needs a data set with a pool)", json_schema_extra=SAMPLING)
    unlabelled_format: str = Field(DEFAULT_UNLABELLED, description="how the pool texts lead a prompt whose "
                                   "template has no {unlabelled} field")
    shots: int = Field(5, gt=0, description="real examples per few-shot prompt", json_schema_extra=SAMPLING)
    samples_per_prompt: int = Field(5, gt=0, description="samples asked for and parsed from each completion "
                                    "(one per line)", json_schema_extra=SAMPLING)
    max_rounds: int = Field(4, gt=0, description="re-prompt rounds when completions yield too few samples",
                            json_schema_extra=SAMPLING)
    min_chars: int = Field(3, ge=0, description="parsed lines shorter than this are skipped",
                           json_schema_extra=SAMPLING)

    @field_validator("template", "instruction")
    @classmethod
    def _has_examples(cls, v: str | None) -> str | None:
        if v is not None and "{examples}" not in v:
            raise ValueError("must contain the field {examples}")
        return v

    @field_validator("description_format")
    @classmethod
    def _has_description(cls, v: str) -> str:
        if "{description}" not in v:
            raise ValueError("must contain the field {description}")
        return v

    @field_validator("unlabelled_format")
    @classmethod
    def _has_unlabelled(cls, v: str) -> str:
        if "{unlabelled}" not in v:
            raise ValueError("must contain the field {unlabelled}")
        return v


def label_name(p: PromptTemplateParams, label: Any) -> str:
    """The name of ``label`` in prompts (``label_names``, else the label itself)."""
    return p.label_names.get(str(label), str(label))


def render(p: PromptTemplateParams, text: str, label: Any, examples: Sequence[str],
           unlabelled: Sequence[str] = ()) -> str:
    """``text`` (the template or the instruction) filled for ``label`` with ``examples``.

    A class description (``label_descriptions``) and pool texts go where ``text`` has the fields
    ``{description}`` and ``{unlabelled}``; a text without them is led by ``description_format`` and
    ``unlabelled_format``. With neither given, the prompt is ``text`` filled as before."""
    name = label_name(p, label)
    description = p.label_descriptions.get(str(label), "")
    pool_block = "\n".join(p.example_format.format(text=t) for t in unlabelled)
    fields = {"label": name, "examples": "\n".join(p.example_format.format(text=t) for t in examples),
              "n": len(examples), "k": p.samples_per_prompt, "description": description, "unlabelled": pool_block}
    lead = ""
    if description and "{description}" not in text:
        lead += p.description_format.format(label=name, description=description)
    if pool_block and "{unlabelled}" not in text:
        lead += p.unlabelled_format.format(unlabelled=pool_block)
    return lead + text.format(**fields)


def draw(rng: np.random.Generator, texts: Sequence[str], k: int) -> list[str]:
    """``k`` of ``texts`` (all when fewer) drawn without replacement by ``rng`` (numpy)."""
    if not texts or k <= 0:
        return []
    chosen = rng.choice(len(texts), size=min(k, len(texts)), replace=False)
    return [texts[j] for j in chosen]


def class_texts(train: Dataset) -> dict[str, list[str]]:
    """The real texts of each class, by class key (``str(label)``)."""
    return {str(c): [str(r.data) for r in recs] for c, recs in train.by_class().items()}


def pool_texts(context: RunContext) -> list[str]:
    """The texts of the run's unlabelled pool (none when the data set has no pool)."""
    pool = getattr(context, "pool", None)
    return [str(r.data) for r in pool.records] if pool is not None else []


def parse_lines(completion: str, min_chars: int = 3) -> list[str]:
    """One sample per non-empty line, with bullets, numbering and quotes stripped."""
    out = []
    for line in completion.splitlines():
        line = _BULLET.sub("", line.strip()).strip().strip('"').strip()
        if len(line) >= max(1, min_chars):
            out.append(line)
    return out


def split_lines(completion: str) -> list[str]:
    """Every non-blank line of ``completion`` with bullets, numbering and quotes stripped (short
    ones too: :func:`screen` counts them)."""
    out = []
    for line in completion.splitlines():
        if line.strip():
            out.append(_BULLET.sub("", line.strip()).strip().strip('"').strip())
    return out


def parse_json_samples(completion: str) -> list[tuple[str, str | None]] | None:
    """``(text, label or None)`` per sample of a JSON reply: ``{"samples": [...]}`` or a bare list, each
    item a string or an object with ``text`` (and ``label``); code fences are stripped. None when the
    reply is not such JSON (the caller reads it as lines instead)."""
    s = _FENCE.sub("", completion.strip())
    start = min((i for i in (s.find("{"), s.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(s[start:])
    except ValueError:
        return None
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("samples", "examples", "texts", "data") if isinstance(obj.get(k), list)), None)
    if not isinstance(obj, list):
        return None
    out: list[tuple[str, str | None]] = []
    for item in obj:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            label = item.get("label")
            out.append((item["text"], None if label is None else str(label)))
        else:
            out.append(("", None))
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def screen(candidates: Sequence[tuple[str, str | None]], *, label: str, names: dict[str, str],
           real: set[str], seen: set[str], min_chars: int, limit: int) -> tuple[list[str], Counter]:
    """The accepted samples among ``candidates`` (``(text, stated label or None)``) for class name
    ``label``, and the rejected ones counted by reason (:data:`REJECTION_REASONS`).

    ``names`` maps each class's normalised name to the name itself: a line ``"other class: text"``
    or a stated label of another class is the wrong label (one of its own class has the prefix
    removed). ``real`` holds the normalised real texts of the class (copies are rejected), ``seen``
    the normalised samples accepted so far (updated: repeats are duplicates); at most ``limit`` are
    accepted per call."""
    accepted: list[str] = []
    why: Counter = Counter()
    own = _norm(label)
    for text, stated in candidates:
        text = (text or "").strip()
        if stated is None and ":" in text[:60]:
            head, _, rest = text.partition(":")
            if _norm(head) in names:
                stated, text = head, rest.strip()
        if not text:
            why["empty"] += 1
        elif len(text) < max(1, min_chars):
            why["too short"] += 1
        elif _REFUSAL.match(text):
            why["refusal"] += 1
        elif stated is not None and _norm(stated) != own and _norm(stated) in names:
            why["wrong label"] += 1
        elif _norm(text) in seen:
            why["duplicate"] += 1
        elif _norm(text) in real:
            why["copy of a real text"] += 1
        elif len(accepted) >= limit:
            why["beyond samples_per_prompt"] += 1
        else:
            accepted.append(text)
            seen.add(_norm(text))
    return accepted, why


def assign(conditions: Sequence[dict[str, Any]], wanted: dict[str, list[int]],
           pools: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """``(text, prompt)`` for each condition from its class's pool of samples, in order; a class whose
    pool is short reuses its samples (core.dedup drops the repeats), an empty pool gives ``""``."""
    out: list[tuple[str, str]] = [("", "")] * len(conditions)
    for key, idx in wanted.items():
        pool = pools.get(key, [])
        for j, i in enumerate(idx):
            out[i] = pool[j % len(pool)] if pool else ("", "")
    return out


def by_class(conditions: Sequence[dict[str, Any]]) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """The indices of ``conditions`` per class key, and each key's label value."""
    wanted: dict[str, list[int]] = {}
    labels: dict[str, Any] = {}
    for i, c in enumerate(conditions):
        wanted.setdefault(str(c.get("label")), []).append(i)
        labels[str(c.get("label"))] = c.get("label")
    return wanted, labels
