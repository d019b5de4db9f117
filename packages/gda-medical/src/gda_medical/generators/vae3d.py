"""``medical.vae3d``: a 3-D variational autoencoder over image + label volumes (MONAI ``VarAutoEncoder``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, DataError
from gda_core.records import Record
from gda_core.torch.accelerators import PrecisionParams
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams

from ..masks import one_hot, reference_record
from ..volumes import (
    affine_of,
    from_model_range,
    num_label_classes,
    read_config,
    save_module,
    stack_images,
    to_model_range,
    volume_shape,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class VAE3DParams(CheckpointParams, PrecisionParams):
    latent_dim: int = Field(64, gt=0, description="size of the latent code")
    channels: list[int] = Field([16, 32, 64], min_length=1, description="encoder channels per level (MONAI "
                                "VarAutoEncoder; the decoder mirrors them)")
    strides: list[int] | None = Field(None, description="stride per level (default 2 each); volumes are padded "
                                      "to a multiple of their product")
    num_res_units: int = Field(1, ge=0, description="residual units per level")
    norm: Literal["batch", "instance", "none"] = Field("batch", description="feature normalisation")
    with_label: bool = Field(True, description="model the label volume jointly (one-hot input channels, "
                             "per-voxel class logits out), so each sample is an image + label pair")
    label_weight: float = Field(1.0, ge=0, description="weight of the labels' per-voxel cross-entropy beside the "
                                "image's per-voxel squared error")
    kl_weight: float = Field(0.05, ge=0, description="weight of the KL term against the per-voxel losses (beta; "
                             "1 is a Gaussian decoder of variance 1/2 on the [-1, 1] images)")
    kl_warmup: float = Field(0.2, ge=0, le=1, description="share of the steps over which the KL weight ramps up")
    steps: int = Field(1000, gt=0, description="training iterations")
    batch_size: int = Field(4, gt=0, description="volumes per iteration")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate")
    prior: Literal["standard", "fitted"] = Field(
        "fitted", description="where codes are drawn: N(0, I), or a per-class diagonal Gaussian mixture fitted "
        "to the training volumes' posterior means (ex-post density estimation)", json_schema_extra=SAMPLING)
    prior_components: int = Field(3, gt=0, description="components of the fitted prior per class (at most half "
                                  "the class's volumes)")
    temperature: float = Field(1.0, gt=0, description="scale of the prior's standard deviations when sampling",
                               json_schema_extra=SAMPLING)
    sample_batch_size: int = Field(8, gt=0, description="codes decoded together", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _check(self):
        if self.strides is not None and len(self.strides) != len(self.channels):
            raise ValueError(f"strides: needs one entry per level of channels ({len(self.channels)}), "
                             f"got {len(self.strides)}")
        return self


class VAE3DGenerator(CheckpointedGenerator, Generator):
    """Image + label pairs from a 3-D VAE: MONAI's ``VarAutoEncoder`` (spatial_dims=3) over the image
    channels and the label's one-hot foreground channels, decoding the image and per-voxel class
    logits; class-conditional through :mod:`gda_core.torch.vae` (one class for most medical sets).

    Joint rather than mask-conditioned: it is the one 3-D generator here that draws new *masks* too,
    from a global latent code (the mask-conditioned baseline is ``medical.pix2pix``). Samples decode codes
    from N(0, I) or from a Gaussian mixture fitted to the training codes (``prior``). ``pretrain`` on
    unlabelled volumes (a pool) learns the images with the label channels off ("no mask" in, no label
    loss), ``fine_tune`` continues on labelled pairs (``core.pretrain-finetune``). ``checkpoint:
    heldout-loss`` keeps the weights with the lowest negative ELBO on held-out training volumes."""

    Params = VAE3DParams
    version = "1"
    who = "medical.vae3d"

    # -- data -------------------------------------------------------------------------

    def _inputs(self, records, k: int):
        """``(x, has_label)``: model-range images and, with ``k`` label classes, the one-hot foreground
        channels (0, "no mask", where a record has none)."""
        import torch

        x = to_model_range(torch.from_numpy(stack_images(records)))
        if not k:
            return x, None
        lab = torch.zeros((len(records), k - 1, *x.shape[2:]))
        has = torch.zeros(len(records), dtype=torch.bool)
        for i, r in enumerate(records):
            if r.target is not None:
                t = np.asarray(r.target)
                t = (t[None] if t.ndim == 3 else t)[None].astype(np.int64)
                lab[i] = one_hot(torch.from_numpy(t), k)[0]
                has[i] = True
        return torch.cat([x, lab], dim=1), has

    def _class_indices(self, records) -> np.ndarray:
        keys = [str(c) for c in self.info["classes"]]
        out = []
        for r in records:
            if r.label is None:
                out.append(len(keys))
            elif str(r.label) not in keys:
                raise DataError(f"{self.who}: record {r.id!r} of class {r.label!r} outside the model's classes "
                                f"({', '.join(keys)})")
            else:
                out.append(keys.index(str(r.label)))
        return np.asarray(out)

    def _setup(self, records, k: int, classes: list) -> None:
        from gda_core.torch.vae import cvae_config

        p = self.params
        shape = volume_shape(records)
        cfg = cvae_config(spatial_dims=3, in_channels=shape[0] + max(0, k - 1), out_channels=shape[0] + k,
                          spatial_shape=shape[1:], latent_size=p.latent_dim, channels=p.channels,
                          strides=p.strides or [2] * len(p.channels), num_res_units=p.num_res_units,
                          num_classes=len(classes), norm=None if p.norm == "none" else p.norm.upper())
        self.info = {"vae_config": cfg, "shape": list(shape), "label_classes": k, "classes": list(classes),
                     "affine": np.asarray(records[0].meta.get("affine", np.eye(4))).tolist()}

    def _new_model(self, seed: int) -> None:
        from gda_core.torch.accelerators import seeded
        from gda_core.torch.vae import build_cvae

        with seeded(seed):
            self.vae = build_cvae(self.info["vae_config"])

    # -- fitting ----------------------------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        p = self.params
        if not len(train):
            raise DataError(f"{self.who}: the training set is empty")
        use_label = p.with_label and all(r.target is not None for r in train.records)
        if p.with_label and not use_label:
            missing = next(r.id for r in train.records if r.target is None)
            raise DataError(f"{self.who}: with_label needs a label volume on every training volume; {missing!r} "
                            "has none (set with_label: false for images only)")
        classes = list(train.classes) or list(dict.fromkeys(r.label for r in train.records))
        self._setup(train.records, num_label_classes(train.records) if use_label else 0, classes)
        self._new_model(context.seed)
        self._train(train.records, context, desc=f"train {self.who}")

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None,
                 label_classes: int | None = None) -> None:
        """Fit on volumes without masks (a pool) as the "no class": with ``with_label`` the label channels
        go in as 0 ("no mask") and carry no loss, so fine-tuning teaches them; ``label_classes`` (default 2)
        sizes them. ``pool.classes`` sizes the class input. ``steps`` overrides ``steps``."""
        p = self.params
        if not len(pool):
            raise DataError(f"{self.who}: the pool to pretrain on is empty")
        k = (label_classes or 2) if p.with_label else 0
        self._setup(pool.records, k, list(pool.classes))
        self._new_model(context.seed)
        self._train(pool.records, context, desc=f"pretrain {self.who}", steps=steps, select=False)
        self.info["pretrained_steps"] = p.steps if steps is None else steps

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained network on labelled volumes (image + label channels)."""
        if lora_rank:
            raise ConfigError(f"strategy.params.lora_rank: {self.who} fine-tunes every weight; set it to 0")
        if getattr(self, "vae", None) is None:
            raise DataError(f"{self.who}: fine_tune needs a pretrained model (call pretrain first)")
        k = int(self.info["label_classes"])
        missing = [r.id for r in train.records if r.target is None]
        if k and missing:
            raise DataError(f"{self.who}: fine-tuning with labels needs a label volume on every record; "
                            f"{missing[0]!r} has none")
        if k and num_label_classes(train.records) > k:
            raise DataError(f"{self.who}: the labels have {num_label_classes(train.records)} classes, the "
                            f"pretrained model {k} (pretrain with label_classes)")
        if list(volume_shape(train.records)) != self.info["shape"]:
            raise DataError(f"{self.who}: volumes of shape {list(volume_shape(train.records))}, the pretrained "
                            f"model {self.info['shape']}")
        self._train(train.records, context, desc=f"fine-tune {self.who}", steps=steps, seed_offset=1)

    def _terms(self, model, x, y, has, noise):
        """Per-volume ``(reconstruction, kl)`` (B,): the image's squared error per voxel + ``label_weight`` x
        the labels' cross-entropy per voxel (records with a mask), and the KL divided by the image's values."""
        import torch

        from gda_core.torch.vae import kl_divergence

        c = self.info["shape"][0]
        out, mu, logvar = model(x, y, noise)
        out = out.float()
        rec = ((out[:, :c] - x[:, :c]) ** 2).flatten(1).mean(1)
        if self.info["label_classes"]:
            target = torch.cat([-torch.ones_like(x[:, :1]), x[:, c:]], dim=1).argmax(1)  # background where no fg
            ce = torch.nn.functional.cross_entropy(out[:, c:], target, reduction="none").flatten(1).mean(1)
            rec = rec + self.params.label_weight * ce * has.to(ce.dtype)
        return rec, kl_divergence(mu.float(), logvar.float()) / x[0, :c].numel()

    def _train(self, records, context, *, desc: str, steps: int | None = None, select: bool = True,
               seed_offset: int = 0) -> None:
        import torch

        from gda_core.torch.training import Optim, TrainingLoop, fit_key
        from gda_core.torch.vae import kl_weight_at

        p = self.params
        steps = p.steps if steps is None else steps
        x, has = self._inputs(records, int(self.info["label_classes"]))
        has = torch.zeros(len(x), dtype=torch.bool) if has is None else has
        y = torch.from_numpy(self._class_indices(records)).long()
        chooser = None
        if select and p.checkpoint != "last":
            x, y, has, chooser = self._chooser(x, y, has, context.seed + seed_offset)

        def step(s):
            idx = torch.randint(0, len(x), (min(p.batch_size, len(x)),), generator=s.generator)
            noise = torch.randn((len(idx), p.latent_dim), generator=s.generator)
            with s.autocast():
                rec, kl = self._terms(s.modules["vae"], x[idx].to(s.device), y[idx].to(s.device),
                                      has[idx].to(s.device), noise)
            w = kl_weight_at(s.index, s.steps, p.kl_weight, p.kl_warmup)
            return {"loss": (rec + w * kl).mean(), "reconstruction": rec.mean(), "kl": kl.mean()}

        result = TrainingLoop({"vae": self.vae}, step, {"vae": Optim("vae", lr=p.lr, weight_decay=1e-4)}, steps=steps,
                              seed=context.seed * 7919 + 23 + seed_offset, device=p.device, precision=p.precision,
                              chooser=chooser, context=context, desc=desc, key=fit_key(self, x, y, has)).run()
        self.vae = result.modules["vae"]
        self.checkpoints_ = result.checkpoints
        self.info["checkpoint_step"] = result.checkpoint_step
        self.info["final_loss"] = result.tail_loss()
        self.prior_ = self._fit_prior(self.vae, x.numpy(), y.numpy(), context.seed)

    def _fit_prior(self, model, x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        from gda_core.torch.vae import fit_latent_prior, posterior_means

        codes = posterior_means(model, x, y, self.params.sample_batch_size)
        return fit_latent_prior(codes, y, len(self.info["classes"]), self.params.prior_components, seed)

    def _chooser(self, x, y, has, seed: int):
        """Hold out ``holdout`` of the volumes; the chooser scores the negative ELBO on them (fixed noise) or
        the near-copy share of as many samples as kept volumes (at most 32), of the kept volumes' classes."""
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.diffusion import CheckpointChooser, holdout_split

        p = self.params
        keep, held = holdout_split(len(x), p.holdout, seed, who=self.who)
        xh, yh, hh = x[held], y[held], has[held]
        noise = torch.randn((len(held), p.latent_dim), generator=torch_generator(seed + 2))
        x, y, has = x[keep], y[keep], has[keep]
        pick = torch.randperm(len(x), generator=torch_generator(seed))[:32]

        def heldout_loss(model) -> float:
            dev = next(model.parameters()).device
            rec, kl = self._terms(model, xh.to(dev), yh.to(dev), hh.to(dev), noise)
            return float((rec + p.kl_weight * kl).mean())

        def samples(model) -> np.ndarray:
            prior = self._fit_prior(model, x.numpy(), y.numpy(), seed) if p.prior == "fitted" else None
            img, lab = self._decoded(model, y[pick].tolist(), seed, prior)
            k = int(self.info["label_classes"])
            return (img if lab is None else torch.cat([img, one_hot(lab, k)], dim=1)).numpy()

        chooser = CheckpointChooser(p, train=x.numpy(), held=xh.numpy(), heldout_loss=heldout_loss, sample=samples)
        return x, y, has, chooser

    # -- sampling ---------------------------------------------------------------------

    def _decoded(self, model, idx: list[int], seed: int, prior, context=None):
        """``(images, labels)`` of class indices ``idx``: model-range images (n, C, ...) and label volumes
        (n, 1, ...) (the per-voxel argmax; None without label channels)."""
        import torch

        from gda_core.torch.vae import decode_codes, sample_latents

        p = self.params
        z = sample_latents(idx, p.latent_dim, seed, prior=prior, temperature=p.temperature)
        progress = None if context is None else (lambda it: context.progress(it, desc=f"{self.who} sample"))
        out = decode_codes(model, z, idx, p.sample_batch_size, progress)
        c, k = self.info["shape"][0], int(self.info["label_classes"])
        return torch.tanh(out[:, :c]), (out[:, c:].argmax(1, keepdim=True) if k else None)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("vae")
        if not conditions:
            return []
        keys = [str(c) for c in self.info["classes"]]
        idx = []
        for cond in conditions:
            lab = cond.get("label")
            if lab is not None and str(lab) not in keys:
                raise DataError(f"{self.who} was not fitted on class {lab!r} (classes: {', '.join(keys)})")
            idx.append(len(keys) if lab is None else keys.index(str(lab)))
        prior = self.prior_ if self.params.prior == "fitted" else None
        img, lab = self._decoded(self.vae, idx, seed, prior, context)
        out = []
        for i, cond in enumerate(conditions):
            target = None if lab is None else lab[i].numpy().astype(np.uint8)
            ref = reference_record(cond, context)
            affine = affine_of(ref).tolist() if ref is not None else self.info["affine"]
            out.append(Record(id="", data=from_model_range(img[i]).numpy().astype(np.float32),
                              label=cond.get("label"), target=target, meta={"affine": affine}))
        return out

    # -- persistence ------------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self._require_fitted("vae", action="save")
        save_module(self.vae, self.info["vae_config"], Path(path) / "vae", extra={"info": self.info})
        self.save_arrays(path, self.prior_)

    def load_state(self, path: Path) -> None:
        from gda_core.torch.vae import build_cvae

        from ..volumes import load_weights

        folder = Path(path) / "vae"
        cfg = read_config(folder)
        self.info = dict(cfg.get("info", {}))
        self.vae = build_cvae(cfg["init"])
        load_weights(self.vae, folder)
        self.vae.eval()
        self.prior_ = self.load_arrays(path)
