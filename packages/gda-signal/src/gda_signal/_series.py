"""What signal.vae1d and signal.timegan share: per-channel scaling, class indices with a "no class"
for pretraining on an unlabelled pool, the warm-start API of ``gda_core.builtin.pool``, records out,
and saving one torch module as safetensors beside a JSON of its config and the fitted scaling.

A subclass sets ``who`` (its registered name), ``scaling`` (``minmax``: to [0, 1] or [-1, 1];
``standard``) and implements ``_train(Z, y, context, *, steps, fresh, desc, select)`` (``Z`` the
scaled series (n, C, L), ``y`` class indices, ``len(classes_)`` for "no class"), ``_sample(idx, seed,
context)`` (scaled series of class indices ``idx``), ``_build(config)`` and ``_config()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Generator, Params
from gda_core.errors import ConfigError, DataError
from gda_core.records import Record

from ._util import stack

MODEL_FILE = "model.safetensors"
META_FILE = "signal_meta.json"


class ScalingParams(Params):
    normalize: Literal["minmax", "standard"] = Field(
        "minmax", description="per-channel scaling fitted on the training series: min-max to the model's "
        "range, or zero mean and unit variance")


class SeriesGenerator(Generator):
    """Base of the 1-D GAN and VAE generators (see the module doc)."""

    who: ClassVar[str] = ""
    low: ClassVar[float] = -1.0
    """Lower end of the min-max range (TimeGAN's sigmoid outputs want 0, the VAE -1)."""

    # -- scaling ------------------------------------------------------------------

    def _fit_scaling(self, X: np.ndarray) -> None:
        if self.params.normalize == "minmax":
            lo, hi = X.min(axis=(0, 2)), X.max(axis=(0, 2))
            self.scale_ = (np.maximum(hi - lo, 1e-6) / (1.0 - self.low)).astype(np.float32)
            self.center_ = (lo - self.low * self.scale_).astype(np.float32)
        else:
            self.center_ = X.mean(axis=(0, 2)).astype(np.float32)
            self.scale_ = np.maximum(X.std(axis=(0, 2)), 1e-6).astype(np.float32)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float32) - self.center_[:, None]) / self.scale_[:, None]).astype(np.float32)

    def _unscale(self, Z: np.ndarray) -> np.ndarray:
        if self.params.normalize == "minmax":
            Z = np.clip(Z, self.low, 1.0)
        return (Z * self.scale_[:, None] + self.center_[:, None]).astype(np.float32)

    # -- classes ------------------------------------------------------------------

    def _label_indices(self, train) -> np.ndarray:
        keys = [str(c) for c in self.classes_]
        missing = sorted({str(r.label) for r in train.records} - set(keys))
        if missing:
            raise DataError(f"{self.who}: records of class(es) {', '.join(missing)} outside the model's classes "
                            f"({', '.join(keys)})")
        return np.asarray([keys.index(str(r.label)) for r in train.records])

    def _label_index(self, label: Any) -> int:
        keys = [str(c) for c in self.classes_]
        if label is None:
            return len(keys)
        if str(label) not in keys:
            raise DataError(f"{self.who} was not fitted on class {label!r} (classes: {', '.join(keys)})")
        return keys.index(str(label))

    # -- fitting ------------------------------------------------------------------

    def _series(self, data, what: str) -> np.ndarray:
        X = stack(data.records)
        if len(X) == 0:
            raise DataError(f"{self.who}: the {what} is empty")
        return X

    def fit(self, train, context) -> None:
        X = self._series(train, "training set")
        self.classes_ = list(train.classes) or list(dict.fromkeys(r.label for r in train.records))
        self.shape_ = list(X.shape[1:])
        self._fit_scaling(X)
        self._train(self._scale(X), self._label_indices(train), context, steps=None, fresh=True,
                    desc=f"{self.who} fit", select=True)

    def pretrain(self, pool, context, *, steps: int | None = None) -> None:
        """Fit on unlabelled series as the model's "no class", sizing the class input for ``pool.classes``
        (the classes fine-tuning will ask for); the scaling is fitted on the pool. ``steps`` scales the
        training (see the generator's ``steps``)."""
        X = self._series(pool, "pool to pretrain on")
        self.classes_ = list(pool.classes)
        if not self.classes_:
            raise DataError(f"{self.who}: pretrain needs pool.classes, the classes fine-tuning will ask for")
        self.shape_ = list(X.shape[1:])
        self._fit_scaling(X)
        self._train(self._scale(X), np.full(len(X), len(self.classes_)), context, steps=steps, fresh=True,
                    desc=f"{self.who} pretrain", select=False)

    def fine_tune(self, train, context, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained networks class-conditionally on ``train`` (weights, scaling
        and classes kept). No LoRA here."""
        if lora_rank:
            raise ConfigError(f"strategy.params.lora_rank: {self.who} fine-tunes every weight; set it to 0")
        if getattr(self, "model_", None) is None:
            raise DataError(f"{self.who}: fine_tune needs a pretrained model (call pretrain first)")
        X = self._series(train, "training set")
        if list(X.shape[1:]) != self.shape_:
            raise DataError(f"{self.who}: fine-tuning series have shape {list(X.shape[1:])}, the pretrained "
                            f"model {self.shape_}")
        self._train(self._scale(X), self._label_indices(train), context, steps=steps, fresh=False,
                    desc=f"{self.who} fine-tune", select=True)

    def _train(self, Z: np.ndarray, y: np.ndarray, context, *, steps: int | None, fresh: bool, desc: str,
               select: bool) -> None:
        raise NotImplementedError

    # -- sampling -----------------------------------------------------------------

    def _sample(self, idx: list[int], seed: int, context) -> np.ndarray:
        raise NotImplementedError

    def sample_arrays(self, labels: list[int], seed: int, context=None) -> np.ndarray:
        """``len(labels)`` series of the given class indices, (n, C, L) in data units."""
        self._require_fitted("model_")
        if not labels:
            return np.zeros((0, *self.shape_), dtype=np.float32)
        return self._unscale(self._sample(list(labels), seed, context))

    def generate(self, conditions, *, seed, context) -> list[Record]:
        self._require_fitted("model_")
        idx = [self._label_index(c.get("label")) for c in conditions]
        arrays = self.sample_arrays(idx, seed, context)
        return [Record(id="", data=a, label=c.get("label")) for a, c in zip(arrays, conditions)]

    # -- persistence --------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _build(self, config: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, np.ndarray]:
        """Fitted arrays besides the weights (saved with :meth:`save_arrays`)."""
        return {}

    def _load_extra_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def save_state(self, path) -> None:
        from safetensors.torch import save_file

        self._require_fitted("model_", action="save")
        path = Path(path)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        save_file(state, str(path / MODEL_FILE))
        meta = {"classes": self.classes_, "shape": self.shape_, "center": self.center_.tolist(),
                "scale": self.scale_.tolist(), "model": self._config(), "info": getattr(self, "info_", {})}
        (path / META_FILE).write_text(json.dumps(meta, indent=2))
        extra = self._extra_state()
        if extra:
            self.save_arrays(path, extra)

    def load_state(self, path) -> None:
        from safetensors.torch import load_file

        from gda_core.torch.accelerators import pick_device

        path = Path(path)
        if not (path / META_FILE).is_file() or not (path / MODEL_FILE).is_file():
            raise DataError(f"{self.who}: {path} holds no {META_FILE} and {MODEL_FILE} (not a saved {self.who})")
        meta = json.loads((path / META_FILE).read_text())
        self.classes_, self.shape_ = meta["classes"], meta["shape"]
        self.center_ = np.asarray(meta["center"], dtype=np.float32)
        self.scale_ = np.asarray(meta["scale"], dtype=np.float32)
        self.info_ = meta.get("info", {})
        model = self._build(meta["model"])
        model.load_state_dict(load_file(str(path / MODEL_FILE)))
        self.model_ = model.to(pick_device(self.params.device)).eval()
        if (path / self.state_arrays).is_file():
            self._load_extra_state(self.load_arrays(path))
