"""``text.lora``: LoRA fine-tuning of a causal LM on label-prefixed real texts, then
label-conditioned generation (LAMBADA, Anaby-Tavor et al. 2020)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gda_core.components import Params, Strategy
from gda_core.errors import ConfigError

if TYPE_CHECKING:
    from gda_core.components import Generator
    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class ScratchParams(Params):
    """The small GPT-2 trained from scratch on the real texts when no pretrained model is given."""

    vocab_size: int = Field(1000, ge=300, description="byte-level BPE vocabulary trained on the real texts")
    n_layer: int = Field(2, gt=0, description="transformer blocks")
    n_embd: int = Field(128, gt=0, description="hidden size")
    n_head: int = Field(4, gt=0, description="attention heads (must divide n_embd)")
    n_positions: int = Field(128, gt=8, description="longest sequence in tokens")
    epochs: int = Field(40, gt=0, description="full-weight epochs on the unlabelled real texts")
    lr: float = Field(2e-3, gt=0, description="learning rate of the from-scratch training")
    labelled: bool = Field(True, description="train it on label-prefixed texts (a label-conditioned base that the "
                           "adapter refines); False: on the plain texts, leaving conditioning to the adapter")


class LoraParams(Params):
    r: int = Field(8, gt=0, description="LoRA rank")
    alpha: float = Field(16, gt=0, description="LoRA scaling alpha")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] | None = Field(None, description="modules that get adapters (default: peft's choice "
                                             "for the architecture; c_attn, c_proj, c_fc for a from-scratch GPT-2)")
    modules_to_save: list[str] | None = Field(None, description="modules trained in full and saved with the adapter")
    epochs: int = Field(10, gt=0, description="LoRA epochs over the label-prefixed real texts")
    lr: float = Field(2e-3, gt=0, description="LoRA learning rate")
    batch_size: int = Field(16, gt=0, description="texts per step")
    max_length: int = Field(96, gt=4, description="tokens per training text (label prefix included)")
    from_scratch: Literal["auto", "always", "never"] = Field(
        "auto", description="train a small GPT-2 on the real texts first (auto: when generator.params.model is None)")
    scratch: ScratchParams = Field(default_factory=ScratchParams, description="the from-scratch model")
    adapter_dir: str | None = Field(None, description="also save the trained adapter alone into this folder")
    pool: Literal["none", "texts", "pseudo-label"] = Field(
        "none", description="use the data set's unlabelled pool: 'texts' adds its texts without a label prefix "
        "(the LM learns the language of the domain, the labelled texts the conditioning); 'pseudo-label' "
        "labels it with core.pseudo-label's labeller (pool_classifier, on the run embedder) fitted on the "
        "labelled texts and trains on labelled + the confidently pseudo-labelled texts")
    pool_classifier: Literal["logistic", "svm", "label-spreading", "self-training"] = Field(
        "logistic", description="with pool=pseudo-label: the labeller (on MiniLM embeddings logistic "
        "regression labelled the shipped set's pool far better than label spreading)")
    pool_keep: float = Field(0.8, gt=0, le=1, description="with pool=pseudo-label: share of the pool kept, "
                             "most confident first")


class LoraStrategy(Strategy):
    """LoRA fine-tuning on label-prefixed real texts, then label-conditioned sampling (LAMBADA).

    Fine-tunes the generator's causal LM with LoRA on ``label_format + text`` lines of the real
    training set, then sample label-conditioned (LAMBADA). Without pretrained weights it first trains
    a small GPT-2 (and its BPE tokenizer) from scratch on the real texts, then adds the adapter."""

    data_kind = "texts"
    Params = LoraParams
    pseudo_: list | None = None

    def pseudo_labelled(self, train: Dataset, context: RunContext) -> list[Record] | None:
        """With ``pool=pseudo-label``: the pool texts the LM was fine-tuned on, with their
        pseudo-labels (labelled again when the model was loaded, not fitted); else None."""
        if self.params.pool != "pseudo-label":
            return None
        if self.pseudo_ is None:
            self.pseudo_, self.pool_summary_ = self._pseudo_label(train, self._pool(context), context)
        return list(self.pseudo_)

    def uses_pool(self) -> bool:
        return self.params.pool != "none"

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        from ..generators.prompt import PromptGenerator

        if not isinstance(generator, PromptGenerator):
            raise ConfigError(f"strategy text.lora needs a causal-LM generator (text.prompt), not {generator.name}")
        import torch
        from peft import LoraConfig, get_peft_model

        from gda_core.torch.accelerators import pick_dtype

        from ..lm import build_gpt2, train_causal_lm, train_tokenizer

        p = self.params
        gp = generator.params
        train, extra = self._with_pool(train, context)
        texts = [str(r.data) for r in train.records]
        generator.examples_ = {str(c): [str(r.data) for r in recs] for c, recs in train.by_class().items()}
        scratch = p.from_scratch == "always" or (p.from_scratch == "auto" and gp.model is None)
        device = generator.device
        if scratch:
            s = p.scratch
            if s.n_embd % s.n_head:
                raise ConfigError("strategy.params.scratch.n_head: must divide scratch.n_embd")
            prompts = [generator.label_prompt(r.label) for r in train.records]
            tokenizer = train_tokenizer(texts + extra + prompts, s.vocab_size)
            model = build_gpt2(tokenizer, n_layer=s.n_layer, n_embd=s.n_embd, n_head=s.n_head,
                               n_positions=s.n_positions, seed=context.seed).to(device)
            plain = [""] * len(texts) if not s.labelled else prompts
            train_causal_lm(model, tokenizer, texts + extra, prompts=plain + [""] * len(extra), epochs=s.epochs,
                            lr=s.lr, batch_size=p.batch_size, max_length=min(p.max_length, s.n_positions),
                            seed=context.seed, context=context, desc="train LM from scratch", weight_decay=0.01)
            target = p.target_modules or ["c_attn", "c_proj", "c_fc"]
        else:
            generator.load_model(param_adapter=False)
            model, tokenizer = generator.model_, generator.tokenizer_
            target = p.target_modules
        torch.manual_seed(context.seed)
        config = LoraConfig(r=p.r, lora_alpha=p.alpha, lora_dropout=p.dropout, target_modules=target,
                            modules_to_save=p.modules_to_save, task_type="CAUSAL_LM")
        try:
            model = get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(f"strategy.params.target_modules: {exc}") from exc
        if device.startswith("cuda") and pick_dtype(device, gp.dtype) != next(model.parameters()).dtype:
            model = model.to(pick_dtype(device, gp.dtype))
        prompts = [generator.label_prompt(r.label) for r in train.records] + [""] * len(extra)
        max_len = p.max_length if not scratch else min(p.max_length, p.scratch.n_positions)
        self.history_ = train_causal_lm(model, tokenizer, texts + extra, prompts=prompts, epochs=p.epochs, lr=p.lr,
                                        batch_size=p.batch_size, max_length=max_len, seed=context.seed,
                                        context=context, desc="LoRA fine-tune")
        generator.set_model(model, tokenizer, base_trained=scratch, has_adapter=True)
        if p.adapter_dir:
            Path(p.adapter_dir).expanduser().mkdir(parents=True, exist_ok=True)
            generator.save_adapter(Path(p.adapter_dir).expanduser())
        return generator

    def _with_pool(self, train, context):
        """``(training set, extra unprefixed texts)`` as ``pool`` asks; sets ``context.generator_train``
        (the reference of near-copy checks) to every text the LM learns from."""
        from gda_core.records import Record

        p = self.params
        if p.pool == "none":
            return train, []
        pool = self._pool(context)
        if p.pool == "texts":
            extra = [str(r.data) for r in pool.records]
            context.generator_train = train.with_records(
                list(train.records) + [Record(id=r.id, data=r.data, label=None) for r in pool.records])
            return train, extra
        self.pseudo_, self.pool_summary_ = self._pseudo_label(train, pool, context)
        train = train.with_records(list(train.records) + self.pseudo_)
        context.generator_train = train
        return train, []

    def _pool(self, context):
        pool = getattr(context, "pool", None)
        if pool is None or len(pool) == 0:
            raise ConfigError(f"strategy.params.pool: {self.params.pool!r} needs an unlabelled pool, but the "
                              "data set offers none (text.builtin and text.table offer one with k_shot)")
        return pool

    def _pseudo_label(self, train, pool, context):
        """core.pseudo-label's labeller with ``pool_classifier`` and ``pool_keep``: ``(kept, summary)``."""
        from gda_core.builtin.pool import PseudoLabelParams, pseudo_label

        return pseudo_label(train, pool, context, PseudoLabelParams(classifier=self.params.pool_classifier,
                                                                    keep=self.params.pool_keep))
