"""``text.prompt``: a causal language model prompted per class (few-shot) or, after
``text.lora``, conditioned on a label prefix (LAMBADA)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, GDAError
from gda_core.records import Record
from gda_core.torch.accelerators import DeviceParams

from ..prompts import (
    DEFAULT_INSTRUCTION,
    DEFAULT_TEMPLATE,
    PromptTemplateParams,
    assign,
    by_class,
    class_texts,
    draw,
    label_name,
    parse_lines,
    pool_texts,
    render,
)

if TYPE_CHECKING:
    from gda_core.components import Params
    from gda_core.context import RunContext
    from gda_core.records import Dataset

__all__ = ["DEFAULT_INSTRUCTION", "DEFAULT_TEMPLATE", "PromptGenerator", "PromptParams", "parse_lines"]

STATE_FILE = "text_generator_state.json"


class PromptParams(PromptTemplateParams, DeviceParams):
    model: str | None = Field(None, description="causal LM: a local folder or hub id (None: text.lora trains one "
                              "from scratch)")
    adapter: str | None = Field(None, description="a saved LoRA adapter folder to load on top of the model")
    conditioning: Literal["auto", "few-shot", "label"] = Field(
        "auto", description="few-shot prompts, or a label prefix (needs a fine-tuned model); auto: label "
        "when an adapter is loaded or trained, else few-shot")
    chat: Literal["auto", "yes", "no"] = Field("auto", description="use the tokenizer's chat template "
                                               "(auto: when it has one)")
    label_format: str = Field("{label}: ", description="label prefix for label-conditioned training and sampling")
    max_new_tokens: int = Field(48, gt=0, description="tokens generated per sample (few-shot: per line)",
                                json_schema_extra=SAMPLING)
    temperature: float = Field(1.0, ge=0, description="sampling temperature (0: greedy)", json_schema_extra=SAMPLING)
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass", json_schema_extra=SAMPLING)
    top_k: int = Field(0, ge=0, description="top-k sampling (0: off)", json_schema_extra=SAMPLING)
    repetition_penalty: float = Field(1.0, gt=0, description="transformers' repetition penalty",
                                      json_schema_extra=SAMPLING)
    batch_size: int = Field(16, gt=0, description="prompts per generate call", json_schema_extra=SAMPLING)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="weights dtype "
                                                                     "(auto: bf16 on a capable GPU, else fp32)")

    @field_validator("label_format")
    @classmethod
    def _has_label(cls, v: str) -> str:
        if "{label}" not in v:
            raise ValueError("must contain the field {label}")
        return v


def base_state_dict(model: Any) -> dict[str, Any]:
    """The weights of a peft-wrapped model without its adapter (the original module names)."""
    out = {}
    for key, value in model.state_dict().items():
        if ".lora_" in key or ".modules_to_save." in key:
            continue
        out[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = value
    return out


class PromptGenerator(Generator):
    """A causal LM prompted per class (few-shot), or label-conditioned after text.lora.

    The model (a local folder or hub id) writes new texts of a class from a few-shot prompt of real examples
    of that class, or from a label prefix once fine-tuned (``text.lora``).

    Few-shot completions are parsed one sample per line; chat models get the instruction through their chat
    template. Generation is batched with left padding and seeded."""

    data_kind = "texts"
    Params = PromptParams
    version = "1"

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.model_ = None
        self.tokenizer_ = None
        self.examples_: dict[str, list[str]] = {}
        self.pool_: list[str] = []
        self.base_trained_ = False  # the base weights live in the saved folder (trained from scratch)
        self.has_adapter_ = False

    # -- model handling -----------------------------------------------------

    @property
    def device(self) -> str:
        from gda_core.torch.accelerators import pick_device

        return str(pick_device(self.params.device))

    def load_model(self, base: str | None = None, adapter: str | None = None, *, param_adapter: bool = True) -> None:
        """Load the base model (``base`` or ``params.model``) and a LoRA adapter (``adapter``, else
        ``params.adapter`` when ``param_adapter``)."""
        from gda_core.torch.accelerators import pick_dtype

        from ..lm import load_causal_lm, load_tokenizer

        src = base or self.params.model
        if src is None:
            raise ConfigError("generator.params.model: no model given; name a local folder or hub id, or use "
                              "strategy text.lora, which trains one from scratch")
        device = self.device
        self.tokenizer_ = load_tokenizer(src)
        self.model_ = load_causal_lm(src, device=device, dtype=pick_dtype(device, self.params.dtype))
        if len(self.tokenizer_) > self.model_.get_input_embeddings().num_embeddings:
            self.model_.resize_token_embeddings(len(self.tokenizer_))  # a pad token the tokenizer lacked
        adapter = adapter or (self.params.adapter if param_adapter else None)
        self.has_adapter_ = False
        if adapter is not None:
            self.attach_adapter(adapter)

    def attach_adapter(self, adapter: str | Path) -> None:
        """Wrap the loaded model with a saved LoRA adapter (peft)."""
        from peft import PeftModel

        path = Path(adapter).expanduser()
        if not (path / "adapter_config.json").is_file():
            raise ConfigError(f"generator.params.adapter: {path} holds no LoRA adapter (no adapter_config.json)")
        self.model_ = PeftModel.from_pretrained(self.model_, str(path)).to(self.device).eval()
        self.has_adapter_ = True

    def set_model(self, model: Any, tokenizer: Any, *, base_trained: bool, has_adapter: bool) -> None:
        """Install a model trained elsewhere (by a strategy)."""
        self.model_, self.tokenizer_ = model, tokenizer
        self.base_trained_, self.has_adapter_ = base_trained, has_adapter

    @property
    def label_conditioned(self) -> bool:
        c = self.params.conditioning
        return c == "label" or (c == "auto" and self.has_adapter_)

    def label_name(self, label: Any) -> str:
        return label_name(self.params, label)

    def label_prompt(self, label: Any) -> str:
        return self.params.label_format.format(label=self.label_name(label))

    # -- Generator interface --------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        """Keep the real texts of each class (and the pool's, for ``pool_shots``) for the prompts; load
        the model if needed."""
        self.examples_ = class_texts(train)
        self.pool_ = pool_texts(context)
        if self.model_ is None:
            self.load_model()

    def _ensure_ready(self) -> None:
        if self.model_ is None:
            self.load_model()

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._ensure_ready()
        if self.label_conditioned:
            return self._generate_conditioned(conditions, seed, context)
        return self._generate_few_shot(conditions, seed, context)

    def _sample(self, prompts: list[str], seed: int, context, max_new_tokens: int) -> list[str]:
        from ..lm import generate_continuations

        p = self.params
        return generate_continuations(self.model_, self.tokenizer_, prompts, seed=seed,
                                      max_new_tokens=max_new_tokens, temperature=p.temperature, top_p=p.top_p,
                                      top_k=p.top_k, repetition_penalty=p.repetition_penalty,
                                      batch_size=p.batch_size, context=context)

    def _generate_conditioned(self, conditions, seed, context) -> list[Record]:
        prompts = [self.label_prompt(c.get("label")) for c in conditions]
        outs = self._sample(prompts, seed, context, self.params.max_new_tokens)
        records = []
        for cond, prompt, out in zip(conditions, prompts, outs):
            lines = parse_lines(out, 1)
            text = lines[0] if lines else out.strip()
            records.append(Record(id="", data=text, label=cond.get("label"),
                                  meta={"prompt": prompt, "empty": not text}))
        return records

    def build_prompt(self, label: Any, examples: Sequence[str], unlabelled: Sequence[str] = ()) -> str:
        """The few-shot prompt for ``label`` with ``examples`` (and pool texts ``unlabelled``), through
        the chat template if used."""
        p = self.params
        use_chat = p.chat == "yes" or (p.chat == "auto" and getattr(self.tokenizer_, "chat_template", None))
        if not use_chat:
            return render(p, p.template, label, examples, unlabelled)
        if not getattr(self.tokenizer_, "chat_template", None):
            raise ConfigError("generator.params.chat: 'yes' but the tokenizer has no chat template")
        messages = ([{"role": "system", "content": p.system}] if p.system else []) + [
            {"role": "user", "content": render(p, p.instruction, label, examples, unlabelled)}]
        return self.tokenizer_.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _generate_few_shot(self, conditions, seed, context) -> list[Record]:
        p = self.params
        if not self.examples_:
            raise GDAError("text.prompt has no real examples: fit it on the training set first")
        rng = np.random.default_rng(seed)
        wanted, labels = by_class(conditions)
        pools: dict[str, list[tuple[str, str]]] = {k: [] for k in wanted}
        for rnd in range(p.max_rounds):
            prompts, owners = [], []
            for key, idx in wanted.items():
                missing = len(idx) - len(pools[key])
                if missing <= 0:
                    continue
                real = self.examples_.get(key) or [t for ts in self.examples_.values() for t in ts]
                for _ in range(-(-missing // p.samples_per_prompt)):
                    examples = draw(rng, real, p.shots)
                    prompts.append(self.build_prompt(labels[key], examples, draw(rng, self.pool_, p.pool_shots)))
                    owners.append(key)
            if not prompts:
                break
            outs = self._sample(prompts, seed + 7919 * rnd, context,
                                p.max_new_tokens * p.samples_per_prompt)
            for key, prompt, out in zip(owners, prompts, outs):
                real_set = set(self.examples_.get(key, []))
                for line in parse_lines(out, p.min_chars)[:p.samples_per_prompt]:
                    if line not in real_set:
                        pools[key].append((line, prompt))
        return [Record(id="", data=text, label=cond.get("label"), meta={"prompt": prompt, "empty": not text})
                for cond, (text, prompt) in zip(conditions, assign(conditions, wanted, pools))]

    # -- persistence ----------------------------------------------------------

    def save_state(self, path: Path) -> None:
        state = {"examples": self.examples_, "pool": self.pool_, "base_trained": self.base_trained_,
                 "has_adapter": self.has_adapter_}
        (path / STATE_FILE).write_text(json.dumps(state, indent=1, ensure_ascii=False))
        if self.model_ is None:
            return
        if self.has_adapter_:
            self.save_adapter(path / "adapter")
        if self.base_trained_:
            if self.has_adapter_:
                base = self.model_.get_base_model()
                base.save_pretrained(path / "base", state_dict=base_state_dict(base))
            else:
                self.model_.save_pretrained(path / "base")
            self.tokenizer_.save_pretrained(path / "base")
        elif self.params.model is None:
            raise GDAError("text.prompt has a model but no source for it")

    def save_adapter(self, path: str | Path) -> None:
        """Write the LoRA adapter alone (``adapter_config.json`` + safetensors weights)."""
        if not self.has_adapter_:
            raise GDAError("this generator has no LoRA adapter to save")
        self.model_.save_pretrained(str(path))

    def load_state(self, path: Path) -> None:
        state_file = path / STATE_FILE
        if not state_file.is_file():
            raise GDAError(f"{path} has no {STATE_FILE}")
        state = json.loads(state_file.read_text())
        self.examples_ = state.get("examples", {})
        self.pool_ = state.get("pool", [])
        base = path / "base"
        has_base = state.get("base_trained") and base.is_dir()
        if not has_base and self.params.model is None:
            return  # nothing was trained yet
        saved_adapter = state.get("has_adapter") and (path / "adapter").is_dir()
        self.load_model(str(base) if has_base else None, str(path / "adapter") if saved_adapter else None)
        self.base_trained_ = bool(has_base)
