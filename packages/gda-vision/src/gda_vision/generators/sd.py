"""Stable Diffusion text2img and img2img (DA-Fusion style) from a local checkpoint or a hub id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Generator
from gda_core.errors import DataError, GDAError
from gda_core.records import Record
from gda_core.torch.accelerators import PrecisionParams

from .._clip import class_prompt
from .._images import as_chw, to_pil

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset

STATE_FILE = "sd_state.json"
LORA_DIR = "lora"


class SDParams(PrecisionParams):
    model: str = Field(..., description="Stable Diffusion checkpoint: a local diffusers folder or a hub id")
    mode: Literal["text2img", "img2img"] = Field("text2img", description="text2img, or img2img from a real "
                                                 "image of the class (the condition's source_id)")
    prompt: str = Field("a photo of a {label}", description="class prompt template; {label} is the class name")
    class_names: dict[str, str] | None = Field(None, description="display name of each class label in prompts")
    negative_prompt: str | None = Field(None, description="negative prompt", json_schema_extra=SAMPLING)
    strength: float = Field(0.5, gt=0, le=1, description="img2img: how far from the real image (0: copy, 1: new)",
                            json_schema_extra=SAMPLING)
    guidance_scale: float = Field(7.5, ge=0, description="classifier-free guidance scale", json_schema_extra=SAMPLING)
    num_inference_steps: int = Field(30, gt=0, description="denoising steps", json_schema_extra=SAMPLING)
    scheduler: Literal["default", "ddim", "dpm-solver++"] = Field("default", description="sampler",
                                                                  json_schema_extra=SAMPLING)
    resolution: int | None = Field(None, gt=7, description="generation side in pixels (default: the checkpoint's)")
    batch_size: int = Field(4, gt=0, description="images per pipeline call", json_schema_extra=SAMPLING)
    lora: str | None = Field(None, description="a LoRA adapter folder (save_lora_weights) to load into the UNet")
    lora_scale: float = Field(1.0, ge=0, description="weight of the LoRA adapter", json_schema_extra=SAMPLING)


class StableDiffusionGenerator(Generator):
    """Stable Diffusion through the diffusers pipelines: text2img from a class prompt, or
    img2img (DA-Fusion) from a real image of the class, its class prompt and ``strength``.

    ``fit`` trains nothing (pair it with the ``vision.lora`` strategy to fine-tune);
    it records the real images' shape, to which samples are resized, and the real
    images img2img starts from. ``save_pretrained`` stores the parameters and any
    LoRA adapter, not the base checkpoint, which stays where ``model`` points.
    """

    data_kind = "arrays"
    Params = SDParams
    version = "1"

    def fit(self, train: Dataset, context: RunContext) -> None:
        if len(train) == 0:
            raise DataError("vision.sd: the training set is empty")
        self.shape_ = list(as_chw(train.records[0].data).shape)
        self.sources_ = {r.id: as_chw(r.data) for r in train.records}
        self.by_label_: dict[str, list[str]] = {}
        for r in train.records:
            self.by_label_.setdefault(repr(r.label), []).append(r.id)

    # -- the pipeline -------------------------------------------------------

    def pipeline(self, mode: str | None = None) -> Any:
        """The loaded diffusers pipeline for ``mode`` (text2img or img2img), LoRA applied."""
        from gda_core.torch.accelerators import apply_thread_setting, pick_device, pick_dtype

        from .._sd import load_text2img, set_scheduler

        mode = mode or self.params.mode
        if getattr(self, "_pipes", None) is None:
            apply_thread_setting()
            self.device_ = pick_device(self.params.device)
            self.dtype_ = pick_dtype(self.device_, self.params.precision)
            pipe = load_text2img(self.params.model, self.device_, self.dtype_, "generator.params.model")
            set_scheduler(pipe, self.params.scheduler)
            lora = self.lora_path()
            if lora is not None:
                pipe.load_lora_weights(str(lora), adapter_name="gda")
                pipe.set_adapters(["gda"], adapter_weights=[self.params.lora_scale])
            self._pipes = {"text2img": pipe}
        if mode not in self._pipes:
            from diffusers import StableDiffusionImg2ImgPipeline

            img2img = StableDiffusionImg2ImgPipeline(**self._pipes["text2img"].components)
            img2img.set_progress_bar_config(disable=True)
            self._pipes[mode] = img2img
        return self._pipes[mode]

    def lora_path(self) -> Path | None:
        """The LoRA adapter in use: one saved with this generator, else ``params.lora``."""
        own = getattr(self, "lora_dir_", None)
        if own is not None:
            return Path(own)
        if self.params.lora:
            path = Path(self.params.lora).expanduser()
            if not path.is_dir():
                raise GDAError(f"generator.params.lora: {path} is not a folder")
            return path
        return None

    def set_lora(self, path: str | Path) -> None:
        """Use the adapter in ``path`` from now on (reloading the pipeline)."""
        self.lora_dir_ = Path(path)
        self._pipes = None

    # -- generation ---------------------------------------------------------

    def _source(self, cond: dict[str, Any], context: Any, rng: np.random.Generator) -> np.ndarray:
        sources = getattr(self, "sources_", {})
        sid = cond.get("source_id")
        if sid in sources:
            return sources[sid]
        if context is not None and getattr(context, "train", None) is not None:
            for r in context.train.records:
                if r.id == sid:
                    return as_chw(r.data)
        ids = getattr(self, "by_label_", {}).get(repr(cond.get("label")))
        if not ids:
            raise DataError(f"vision.sd img2img: no real image for condition {cond!r}")
        return sources[ids[int(rng.integers(len(ids)))]]

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        import torch

        from gda_core.torch.accelerators import torch_generator

        from .._images import resize_batch, set_channels
        from .._sd import default_resolution

        p = self.params
        pipe = self.pipeline()
        side = p.resolution or default_resolution(pipe)
        rng = np.random.default_rng(seed)
        shape = getattr(self, "shape_", [3, side, side])
        out: list[Record] = []
        for start in range(0, len(conditions), p.batch_size):
            batch = list(conditions[start:start + p.batch_size])
            prompts = [cond.get("prompt") or class_prompt(p.prompt, cond.get("label"), p.class_names)
                       for cond in batch]
            gens = [torch_generator(seed * 1_000_003 + start + i) for i in range(len(batch))]
            kwargs: dict[str, Any] = dict(
                prompt=prompts, negative_prompt=[p.negative_prompt] * len(batch) if p.negative_prompt else None,
                guidance_scale=p.guidance_scale, num_inference_steps=p.num_inference_steps,
                generator=gens, output_type="np")
            if p.mode == "img2img":
                images = [to_pil(self._source(c, context, rng)).convert("RGB").resize((side, side))
                          for c in batch]
                result = self.pipeline("img2img")(image=images, strength=p.strength, **kwargs)
            else:
                result = pipe(height=side, width=side, **kwargs)
            x = torch.from_numpy(np.asarray(result.images, dtype=np.float32)).permute(0, 3, 1, 2)
            x = resize_batch(set_channels(x, shape[0]), (shape[1], shape[2])).clamp(0, 1)
            for img, cond, prompt in zip(x.numpy(), batch, prompts):
                out.append(Record(id="", data=img.astype(np.float32), label=cond.get("label"),
                                  meta={"prompt": prompt}))
        return out

    # -- persistence ----------------------------------------------------------

    def save_state(self, path: Path) -> None:
        state = {"shape": getattr(self, "shape_", None)}
        lora = self.lora_path()
        if lora is not None and lora.resolve() != (Path(path) / LORA_DIR).resolve():
            shutil.copytree(lora, Path(path) / LORA_DIR, dirs_exist_ok=True)
            state["lora"] = LORA_DIR
        if hasattr(self, "sources_"):
            ids = list(self.sources_)
            np.save(Path(path) / "sd_sources.npy", np.stack([self.sources_[i] for i in ids]), allow_pickle=False)
            state["source_ids"] = ids
            state["by_label"] = self.by_label_
        (Path(path) / STATE_FILE).write_text(json.dumps(state, indent=2))

    def load_state(self, path: Path) -> None:
        path = Path(path)
        if not (path / STATE_FILE).is_file():
            raise GDAError(f"{path} holds no vision.sd state ({STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        if state.get("shape"):
            self.shape_ = state["shape"]
        if state.get("lora"):
            self.lora_dir_ = path / state["lora"]
        if state.get("source_ids"):
            arr = np.load(path / "sd_sources.npy", allow_pickle=False)
            self.sources_ = dict(zip(state["source_ids"], arr))
            self.by_label_ = state["by_label"]
        self._pipes = None
