"""CLIP filter: keep images whose CLIP similarity to their class prompt ranks high."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams
from gda_core.records import label_key
from gda_core.torch.accelerators import DeviceParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class CLIPFilterParams(SelectorParams, DeviceParams):
    model: str = Field(..., description="CLIP checkpoint: a local folder or a hub id (transformers CLIPModel)")
    prompt: str = Field("a photo of a {label}", description="class prompt template; {label} is the class name")
    class_names: dict[str, str] | None = Field(None, description="display name of each class label in prompts")
    score: Literal["similarity", "probability"] = Field(
        "similarity", description="cosine similarity to the own-class prompt, or softmax over all class prompts")
    temperature: float = Field(100.0, gt=0, description="logit scale for the probability score")
    keep: float | None = Field(0.5, gt=0, le=1, description="share of samples kept (by rank, per class)")
    batch_size: int = Field(64, gt=0, description="images per CLIP call")


class CLIPFilterSelector(Selector):
    """Scores each synthetic image by the CLIP (transformers) image-text similarity to its
    class prompt, or by the softmax probability of its class among all class prompts, and
    keeps the best ranked ones."""

    data_kind = "arrays"
    Params = CLIPFilterParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        from .._clip import class_prompt, load_clip, text_embeddings

        apply_thread_setting()  # once per process
        p = self.params
        self.device_ = pick_device(p.device)
        self.clip_, self.processor_ = load_clip(p.model, self.device_, "selectors.clip-filter.params.model")
        self.classes_ = list(train.classes)
        prompts = [class_prompt(p.prompt, c, p.class_names) for c in self.classes_]
        self.text_ = text_embeddings(self.clip_, self.processor_, prompts, self.device_)

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        from .._clip import class_prompt, image_embeddings, text_embeddings

        p = self.params
        images = image_embeddings(self.clip_, self.processor_, list(synthetic), self.device_, p.batch_size)
        keys = [label_key(c) for c in self.classes_]
        col = [keys.index(label_key(r.label)) if label_key(r.label) in keys else -1 for r in synthetic]
        text = self.text_
        if any(c < 0 for c in col):  # a label the real set lacks: embed its prompt on its own
            extra = sorted({r.label for r, c in zip(synthetic, col) if c < 0}, key=repr)
            text = np.concatenate([text, text_embeddings(
                self.clip_, self.processor_, [class_prompt(p.prompt, c, p.class_names) for c in extra], self.device_)])
            keys = keys + [label_key(c) for c in extra]
            col = [keys.index(label_key(r.label)) for r in synthetic]
        sims = images @ text.T  # (n, classes)
        rows = np.arange(len(synthetic))
        if p.score == "similarity":
            return sims[rows, col]
        logits = p.temperature * sims
        logits -= logits.max(1, keepdims=True)
        proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return proba[rows, col]
