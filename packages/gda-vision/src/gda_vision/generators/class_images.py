"""What the class-conditional image generators trained from scratch share (``vision.gan``,
``vision.vae``): images to tensors at a working size and back, class indices with a null class,
the held-out split for checkpoint choice, the warm-start API of ``gda_core.builtin.pool`` and
the saved state (a diffusers-style folder: config JSON apart from safetensors weights).

A subclass builds its networks (:meth:`ClassImageGenerator._build`), trains them
(:meth:`ClassImageGenerator._train`, on ``gda_core.torch.training.TrainingLoop``) and samples
images in [-1, 1] at the working size (:meth:`ClassImageGenerator._sample`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, DataError, GDAError
from gda_core.records import Record, label_key
from gda_core.torch.accelerators import DeviceParams
from gda_core.torch.diffusion import CheckpointParams

from .._images import stack

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class ClassImageParams(CheckpointParams, DeviceParams):
    """Parameters every class-conditional image generator trained from scratch has."""

    train_steps: int = Field(2000, gt=0, description="optimizer steps (batches drawn with replacement, so the "
                             "budget does not depend on the data set's size)")
    batch_size: int = Field(64, gt=1, description="training batch")
    sample_size: int | None = Field(None, gt=1, description="side the networks work at (default: the data's "
                                    "side rounded up to what the networks need); samples are resized back")
    sample_batch_size: int = Field(256, gt=0, description="images per network call while sampling",
                                   json_schema_extra=SAMPLING)


class ClassImageGenerator(Generator):
    """Base of ``vision.gan`` and ``vision.vae`` (see the module docstring)."""

    who: ClassVar[str] = ""
    state_file: ClassVar[str] = ""
    weights_file: ClassVar[str] = ""
    module_names: ClassVar[tuple[str, ...]] = ()
    """The networks saved (by name); the first is the one sampling uses."""

    # -- to implement --------------------------------------------------------------

    def _side_multiple(self) -> int:
        """What the working side must be a multiple of."""
        raise NotImplementedError

    def _default_side(self, side: int) -> int:
        """The working side for images of ``side`` pixels (default: rounded up to :meth:`_side_multiple`)."""
        m = self._side_multiple()
        return int(np.ceil(side / m) * m)

    def _build(self) -> dict[str, Any]:
        """Fresh networks by name, shaped by ``shape_``, ``sample_size_`` and ``classes_``."""
        raise NotImplementedError

    def _train(self, x: Any, y: Any, steps: int, context: Any, desc: str, select: bool) -> None:
        """Train ``self.nets_`` on images ``x`` ([-1, 1], working size) and class indices ``y``."""
        raise NotImplementedError

    def _sample(self, labels: Any, seed: int) -> Any:
        """Images ``(n, C, S, S)`` in [-1, 1] for class indices ``labels`` (a CPU long tensor)."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, state: dict[str, Any]) -> None:
        pass

    # -- data ---------------------------------------------------------------------------

    def _prepare(self, data, classes: list[Any]) -> tuple[Any, Any]:
        """Images ``(n, C, S, S)`` in [-1, 1] and class indices of ``data`` (null for label None);
        sets the shapes and the class list the first time."""
        import torch

        from .._images import resize_batch

        if len(data) == 0:
            raise DataError(f"{self.who}: the training set is empty")
        images = stack(data.records)
        n, c, h, w = images.shape
        if not hasattr(self, "classes_"):
            m = self._side_multiple()
            size = self.params.sample_size or self._default_side(max(h, w))
            if size % m:
                raise ConfigError(f"generator.params.sample_size: {size} is not a multiple of {m} ({self.who})")
            self.classes_ = list(classes)
            self.index_ = {label_key(lab): i for i, lab in enumerate(self.classes_)}
            self.shape_ = [int(c), int(h), int(w)]
            self.sample_size_ = int(size)
            self._setup_device()
        elif [int(c), int(h), int(w)] != self.shape_:
            raise DataError(f"{self.who}: images of shape {[c, h, w]} do not match the model's {self.shape_}")
        x = resize_batch(torch.from_numpy(images) * 2.0 - 1.0, (self.sample_size_, self.sample_size_))
        null = len(self.classes_)
        y = []
        for r in data.records:
            key = label_key(r.label)
            if r.label is not None and key not in self.index_:
                raise DataError(f"{self.who}: class {r.label!r} was not among the classes {self.classes_}")
            y.append(self.index_[key] if r.label is not None else null)
        return x, torch.tensor(y, dtype=torch.long)

    def _setup_device(self) -> None:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        apply_thread_setting()
        self.device_ = pick_device(self.params.device)

    def _reset(self) -> None:
        for attr in ("classes_", "nets_"):
            self.__dict__.pop(attr, None)

    # -- fitting and the warm-start API ------------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        import torch

        self._reset()
        x, y = self._prepare(train, list(train.classes) or list(dict.fromkeys(r.label for r in train.records)))
        torch.manual_seed(context.seed)
        self.nets_ = self._build()
        self._train(x, y, self.params.train_steps, context, f"{self.who} train", select=True)

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None) -> None:
        """Warm-start API: train on the unlabelled ``pool`` as the null class (``pool.classes``
        sizes the class embedding for :meth:`fine_tune`)."""
        import torch

        if not list(pool.classes):
            raise DataError(f"{self.who}.pretrain: the pool names no classes; fine-tuning needs the class list")
        self._reset()
        x, _ = self._prepare(pool, list(pool.classes))
        y = torch.full((len(x),), len(self.classes_), dtype=torch.long)
        torch.manual_seed(context.seed)
        self.nets_ = self._build()
        self._train(x, y, steps or self.params.train_steps, context, f"{self.who} pretrain", select=False)

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Warm-start API: continue from the current (pretrained) weights on labelled ``train``."""
        if lora_rank:
            raise ConfigError(f"strategy.params.lora_rank: {self.who} has no LoRA; use 0")
        self._require_fitted("nets_", action="fine_tune (call pretrain first)")
        x, y = self._prepare(train, self.classes_)
        self._train(x, y, steps or self.params.train_steps, context, f"{self.who} fine-tune", select=True)

    def _holdout(self, x: Any, y: Any, seed: int, *, heldout_loss: Any, sample: Any) -> tuple[Any, Any, Any]:
        """Hold out ``holdout`` of the images; the rest, their labels and the checkpoint chooser
        (``gda_core.torch.diffusion.CheckpointChooser``) scoring on the held-out ones.
        ``heldout_loss(model, xh, yh)`` and ``sample(model, labels)`` are the criteria."""
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.diffusion import CheckpointChooser, holdout_split

        keep, out = holdout_split(len(x), self.params.holdout, seed, who=self.who)
        xh, yh, xt, yt = x[out], y[out], x[keep], y[keep]
        labels = yt[torch.randperm(len(yt), generator=torch_generator(seed))[:200]]
        chooser = CheckpointChooser(self.params, train=xt.flatten(1).numpy(), held=xh.flatten(1).numpy(),
                                    heldout_loss=lambda m: heldout_loss(m, xh, yh),
                                    sample=lambda m: sample(m, labels).flatten(1).cpu().numpy())
        return xt, yt, chooser

    # -- sampling -------------------------------------------------------------------------------

    def class_index(self, label: Any) -> int:
        """The networks' class index of ``label`` (None: the null class)."""
        if label is None:
            return len(self.classes_)
        key = label_key(label)
        if key not in self.index_:
            raise DataError(f"{self.who} was not trained on class {label!r} (classes: {self.classes_})")
        return self.index_[key]

    def sample(self, class_indices: list[int], *, seed: int) -> np.ndarray:
        """Images ``(n, C, H, W)`` in [0, 1] for the given class indices; deterministic given ``seed``."""
        import torch

        from .._images import resize_batch

        self._require_fitted("nets_")
        c, h, w = self.shape_
        if not class_indices:
            return np.zeros((0, c, h, w), dtype=np.float32)
        x = self._sample(torch.tensor(class_indices, dtype=torch.long), seed)
        x = resize_batch(x.float().cpu(), (h, w))
        return ((x.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext | None) -> list[Record]:
        self._require_fitted("nets_")
        idx = [self.class_index(cond.get("label")) for cond in conditions]
        images = self.sample(idx, seed=seed)
        return [Record(id="", data=img, label=cond.get("label")) for img, cond in zip(images, conditions)]

    # -- persistence ------------------------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        from safetensors.torch import save_file

        self._require_fitted("nets_", action="save")
        tensors = {f"{n}.{k}": v.detach().cpu().contiguous() for n in self.module_names
                   for k, v in self.nets_[n].state_dict().items()}
        save_file(tensors, str(Path(path) / self.weights_file))
        state = {"classes": self.classes_, "shape": self.shape_, "sample_size": self.sample_size_,
                 **self._extra_state()}
        (Path(path) / self.state_file).write_text(json.dumps(state, indent=1))

    def load_state(self, path: Path) -> None:
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / self.state_file).is_file():
            raise GDAError(f"{path} holds no {self.who} state ({self.state_file})")
        state = json.loads((path / self.state_file).read_text())
        self.classes_, self.shape_, self.sample_size_ = state["classes"], state["shape"], state["sample_size"]
        self.index_ = {label_key(lab): i for i, lab in enumerate(self.classes_)}
        self._load_extra(state)
        self._setup_device()
        nets = self._build()
        tensors = load_file(str(path / self.weights_file))
        for n in self.module_names:
            prefix = f"{n}."
            nets[n].load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            nets[n].to(self.device_).eval()
        self.nets_ = {n: nets[n] for n in self.module_names}


def data_digest(*tensors: Any) -> str:
    """A short digest of tensors (the training data): a saved training state resumes only on the same data."""
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
