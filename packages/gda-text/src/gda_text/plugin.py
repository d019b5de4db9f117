"""Registers gda-text's components (and nothing else)."""

from __future__ import annotations

from gda_core import hookimpl

P = "gda_text"


@hookimpl
def register_generators(register):
    register("text.prompt", f"{P}.generators.prompt:PromptGenerator")
    register("text.nlpaug", f"{P}.generators.nlpaug:NlpaugGenerator")
    register("text.openai", f"{P}.generators.openai:OpenAIGenerator")


@hookimpl
def register_strategies(register):
    register("text.lora", f"{P}.strategies.lora:LoraStrategy")


@hookimpl
def register_selectors(register):
    register("text.perplexity", f"{P}.selectors.perplexity:PerplexitySelector")
    register("text.format", f"{P}.selectors.format:FormatSelector")


@hookimpl
def register_validators(register):
    register("text.diversity", f"{P}.validators.diversity:DiversityValidator")


@hookimpl
def register_applications(register):
    register("text.classifier", f"{P}.applications.classifier:TextClassifierApplication")


@hookimpl
def register_datasets(register):
    register("text.builtin", f"{P}.datasets:SupportTicketsDataset")
    register("text.table", f"{P}.datasets:TextTableDataset")


@hookimpl
def register_embedders(register):
    register("text.embedder", f"{P}.embedders.sentence:SentenceEmbedder")
    register("text.tfidf", f"{P}.embedders.tfidf:TfidfEmbedder")


@hookimpl
def register_bench_suites(register):
    register("text", f"{P}.bench_suites:text_suite")
