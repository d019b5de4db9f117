"""Registers gda-text's components (and nothing else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gda_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

P = "gda_text"


@hookimpl
def register_generators(register: Callable[[str, Any], None]) -> None:
    register("text.prompt", f"{P}.generators.prompt:PromptGenerator")
    register("text.nlpaug", f"{P}.generators.nlpaug:NlpaugGenerator")
    register("text.openai", f"{P}.generators.openai:OpenAIGenerator")


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("text.lora", f"{P}.strategies.lora:LoraStrategy")


@hookimpl
def register_selectors(register: Callable[[str, Any], None]) -> None:
    register("text.perplexity", f"{P}.selectors.perplexity:PerplexitySelector")
    register("text.format", f"{P}.selectors.format:FormatSelector")


@hookimpl
def register_validators(register: Callable[[str, Any], None]) -> None:
    register("text.diversity", f"{P}.validators.diversity:DiversityValidator")


@hookimpl
def register_applications(register: Callable[[str, Any], None]) -> None:
    register("text.classifier", f"{P}.applications.classifier:TextClassifierApplication")


@hookimpl
def register_datasets(register: Callable[[str, Any], None]) -> None:
    register("text.builtin", f"{P}.datasets:SupportTicketsDataset")
    register("text.table", f"{P}.datasets:TextTableDataset")


@hookimpl
def register_embedders(register: Callable[[str, Any], None]) -> None:
    register("text.embedder", f"{P}.embedders.sentence:SentenceEmbedder")
    register("text.tfidf", f"{P}.embedders.tfidf:TfidfEmbedder")


@hookimpl
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    register("text", f"{P}.bench_suites:text_suite")
