"""``text.perplexity``: drop generated texts that the language model itself finds unlikely."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams
from gda_core.errors import ConfigError
from gda_core.torch.accelerators import DeviceParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class PerplexityParams(SelectorParams, DeviceParams):
    keep: float | None = Field(0.75, gt=0, le=1, description="fraction kept per class, lowest perplexity first")
    threshold: float | None = Field(None, gt=0, description="keep texts with at most this perplexity")
    model: str | None = Field(None, description="causal LM folder or hub id; None: the run's own generator "
                              "(its saved model in the run folder, label-conditioned if it was fine-tuned)")
    conditional: bool = Field(True, description="score p(text | label prefix) when the model is label-conditioned")
    batch_size: int = Field(16, gt=0, description="texts per forward pass")


class PerplexitySelector(Selector):
    """Drops texts the language model finds unlikely (highest perplexity).

    Scores each text by its perplexity (exp of the mean token negative log-likelihood) under a
    causal LM: the run's fine-tuned generator by default, given the intended label's prefix; keeps
    the least perplexing fraction per class (or those under ``threshold``)."""

    data_kind = "texts"
    Params = PerplexityParams
    higher_is_better = False

    def fit(self, train: Dataset, context: RunContext) -> None:
        from ..generators.prompt import PromptGenerator

        p = self.params
        if p.model is not None:
            gen = PromptGenerator(model=p.model, device=p.device, conditioning="few-shot")
            gen.load_model()
        else:
            folder = Path(context.workdir or ".") / "model"
            if not (folder / PromptGenerator.config_name).is_file():
                raise ConfigError("selectors: text.perplexity has no model: set its params.model, or use it in a "
                                  "run whose generator is a causal LM (text.prompt)")
            import json

            saved = json.loads((folder / PromptGenerator.config_name).read_text())
            if not str(saved.get("class", "")).endswith(":PromptGenerator"):
                raise ConfigError(f"selectors: text.perplexity needs a causal-LM generator (text.prompt), the run's is "
                                  f"{saved.get('name')}; set the selector's params.model")
            gen = PromptGenerator.from_pretrained(folder, device=p.device)
            if gen.model_ is None:
                raise ConfigError("selectors: text.perplexity: the run's generator has no model")
        self.generator_ = gen

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        from ..lm import text_nll

        gen = self.generator_
        texts = [str(r.data) or " " for r in synthetic]
        prompts = None
        if self.params.conditional and gen.label_conditioned:
            prompts = [gen.label_prompt(r.label) for r in synthetic]
        nll = text_nll(gen.model_, gen.tokenizer_, texts, prompts=prompts, batch_size=self.params.batch_size)
        return np.exp(np.minimum(np.asarray(nll, dtype=float), 50.0))
