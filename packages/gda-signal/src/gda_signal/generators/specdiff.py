"""signal.specdiff: audio through log-mel spectrograms, a 2-D diffusion model, and Griffin-Lim back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Generator
from gda_core.errors import DataError
from gda_core.records import Record
from gda_core.torch.accelerators import DeviceParams, apply_thread_setting, pick_device
from gda_core.torch.weights import safe_kwargs

from .._diffusion import DiffusionTrainingParams
from .._util import seed_all, stack

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class SpecDiffParams(DiffusionTrainingParams, DeviceParams):
    sample_rate: int | None = Field(None, gt=0, description="Hz (default: the data set's sample_rate)")
    n_fft: int = Field(512, gt=1, description="STFT size")
    hop_length: int = Field(128, gt=0, description="STFT hop")
    n_mels: int = Field(64, gt=0, description="mel bands")
    f_min: float = Field(0.0, ge=0, description="lowest mel frequency (Hz)")
    f_max: float | None = Field(None, gt=0, description="highest mel frequency (Hz; default: Nyquist)")
    floor_db: float = Field(80.0, gt=0, description="dynamic range kept below the loudest training bin (dB)")
    griffin_lim_iters: int = Field(64, gt=0, description="Griffin-Lim iterations back to a waveform")
    block_out_channels: list[int] = Field([32, 64], min_length=1, description="UNet2DModel channels per level")
    layers_per_block: int = Field(1, gt=0, description="UNet2DModel residual blocks per level")
    norm_num_groups: int = Field(8, gt=0, description="GroupNorm groups (must divide every channel count)")
    steps: int = Field(2000, gt=0, description="training steps (batches)")
    batch_size: int = Field(16, gt=0, description="training batch size")
    sample_batch_size: int = Field(64, gt=0, description="spectrograms denoised together", json_schema_extra=SAMPLING)


class SpecDiffGenerator(Generator):
    """Class-conditional diffusion on log-mel spectrograms (diffusers ``UNet2DModel`` with a
    class embedding), turned back into waveforms by torchaudio's ``InverseMelScale`` and
    ``GriffinLim``. Channels of the audio are the image channels. Saves as ``unet/``
    (safetensors), ``scheduler/`` and ``signal_meta.json``.
    """

    data_kind = "arrays"
    Params = SpecDiffParams
    version = "1"

    def _codec(self):
        from .._mel import MelCodec

        p = self.params
        return MelCodec(self.sample_rate_, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, f_min=p.f_min,
                        f_max=p.f_max, n_iter=p.griffin_lim_iters)

    def _padded(self, h: int, w: int) -> tuple[int, int]:
        f = 2 ** (len(self.params.block_out_channels) - 1)
        return h + (-h) % f, w + (-w) % f

    def fit(self, train: Dataset, context: RunContext) -> None:
        from diffusers import UNet2DModel

        from gda_core.torch.training import fit_key

        from .._diffusion import make_train_scheduler, train_denoiser

        p = self.params
        X = stack(train.records)
        if len(X) == 0:
            raise DataError("signal.specdiff: the training set is empty")
        rate = p.sample_rate or train.meta.get("sample_rate") or train[0].meta.get("sample_rate")
        if not rate:
            raise DataError("signal.specdiff: the data set has no sample_rate; set generator.params.sample_rate")
        self.sample_rate_, self.length_, self.channels_ = int(rate), int(X.shape[-1]), int(X.shape[1])
        self.classes_ = list(train.classes)
        keys = [str(c) for c in self.classes_]
        y = np.asarray([keys.index(str(r.label)) for r in train.records])
        M = self._codec().encode(X)  # (N, C, n_mels, frames)
        self.mel_shape_ = list(M.shape[2:])
        top = float(M.max())
        low = top - p.floor_db * np.log(10) / 10  # power dB to natural log
        self.lo_, self.hi_ = float(low), float(top)
        Z = self._to_unit(M)
        H, W = self._padded(*self.mel_shape_)
        Z = np.pad(Z, ((0, 0), (0, 0), (0, H - Z.shape[2]), (0, W - Z.shape[3])), constant_values=-1.0)
        n_levels = len(p.block_out_channels)
        apply_thread_setting()  # once per process
        seed_all(context.seed)
        model = UNet2DModel(sample_size=(H, W), in_channels=self.channels_, out_channels=self.channels_,
                            block_out_channels=tuple(p.block_out_channels), layers_per_block=p.layers_per_block,
                            down_block_types=("DownBlock2D",) * n_levels, up_block_types=("UpBlock2D",) * n_levels,
                            norm_num_groups=p.norm_num_groups, num_class_embeds=len(keys) + 1)
        self.scheduler_ = make_train_scheduler(p.num_train_timesteps, p.beta_schedule)
        self.model_, self.losses_ = train_denoiser(
            model, _call, Z, y, len(keys), self.scheduler_, steps=p.steps, batch_size=p.batch_size, lr=p.lr,
            ema=p.ema, label_dropout=p.label_dropout, seed=context.seed, device=pick_device(p.device),
            context=context, desc="signal.specdiff fit", key=fit_key(self, Z, y))

    def _to_unit(self, M: np.ndarray) -> np.ndarray:
        M = np.clip(M, self.lo_, self.hi_)
        return (2 * (M - self.lo_) / (self.hi_ - self.lo_) - 1).astype(np.float32)

    def _from_unit(self, Z: np.ndarray) -> np.ndarray:
        return ((np.clip(Z, -1, 1) + 1) / 2 * (self.hi_ - self.lo_) + self.lo_).astype(np.float32)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        from .._diffusion import sample

        self._require_fitted("model_")
        p = self.params
        keys = [str(c) for c in self.classes_]
        idx = []
        for c in conditions:
            label = c.get("label")
            if label is not None and str(label) not in keys:
                raise DataError(f"signal.specdiff was not fitted on class {label!r} (classes: {', '.join(keys)})")
            idx.append(len(keys) if label is None else keys.index(str(label)))
        H, W = self._padded(*self.mel_shape_)
        Z = sample(self.model_, _call, self.scheduler_, (self.channels_, H, W), idx, len(keys), seed=seed,
                   sampler=p.sampler, num_inference_steps=p.num_inference_steps, guidance_scale=p.guidance_scale,
                   batch_size=p.sample_batch_size, context=context, desc="signal.specdiff sample")
        M = self._from_unit(Z[:, :, :self.mel_shape_[0], :self.mel_shape_[1]])
        waves = self._codec().decode(M, self.length_, seed=seed) if len(M) else np.zeros((0, self.channels_, 0))
        return [Record(id="", data=w.astype(np.float32), label=c.get("label"),
                       meta={"sample_rate": self.sample_rate_}) for w, c in zip(waves, conditions)]

    def save_state(self, path: Path) -> None:
        self.model_.save_pretrained(path / "unet", safe_serialization=True)
        self.scheduler_.save_pretrained(path / "scheduler")
        meta = {"classes": self.classes_, "sample_rate": self.sample_rate_, "length": self.length_,
                "channels": self.channels_, "mel_shape": self.mel_shape_, "lo": self.lo_, "hi": self.hi_}
        (path / "signal_meta.json").write_text(json.dumps(meta, indent=2))

    def load_state(self, path: Path) -> None:
        from diffusers import DDPMScheduler, UNet2DModel

        meta = json.loads((path / "signal_meta.json").read_text())
        self.classes_, self.sample_rate_, self.length_ = meta["classes"], meta["sample_rate"], meta["length"]
        self.channels_, self.mel_shape_, self.lo_, self.hi_ = (meta["channels"], meta["mel_shape"], meta["lo"],
                                                               meta["hi"])
        self.model_ = UNet2DModel.from_pretrained(path / "unet", **safe_kwargs())
        self.model_ = self.model_.to(pick_device(self.params.device)).eval()
        self.scheduler_ = DDPMScheduler.from_pretrained(path / "scheduler")


def _call(model, x, t, labels):
    return model(x, t, class_labels=labels).sample
