"""``medical.pix2pix``: a mask-conditioned 3-D GAN (pix2pix, Isola et al. 2017) making image + label pairs."""

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

from ..masks import MaskParams, masks_for, one_hot, reference_record
from ..volumes import (
    affine_of,
    check_divisible,
    from_model_range,
    num_label_classes,
    read_config,
    save_module,
    stack_images,
    stack_targets,
    to_model_range,
    volume_shape,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class Pix2PixParams(MaskParams, CheckpointParams, PrecisionParams):
    channels: list[int] = Field([16, 32, 64], min_length=2, description="generator (MONAI UNet) channels per level; "
                                "each level past the first halves the volume")
    num_res_units: int = Field(1, ge=0, description="residual units per generator level")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout in the generator (pix2pix's source of variety)")
    sample_dropout: bool = Field(True, description="keep the generator's dropout on when sampling, as pix2pix does "
                                 "(else the same mask and noise give the same image)", json_schema_extra=SAMPLING)
    noise_channels: int = Field(1, ge=0, description="Gaussian noise volumes given to the generator beside the mask")
    disc_channels: int = Field(16, gt=0, description="channels of the PatchDiscriminator's first layer (doubled "
                               "per layer)")
    disc_layers: int = Field(2, gt=0, description="strided layers of the PatchDiscriminator (its patch size)")
    disc_norm: Literal["batch", "instance"] = Field("batch", description="PatchDiscriminator normalisation")
    criterion: Literal["least_squares", "hinge", "bce"] = Field(
        "least_squares", description="adversarial criterion (MONAI PatchAdversarialLoss)")
    l1_weight: float = Field(100.0, ge=0, description="weight of the L1 distance to the real image of the mask "
                             "(pix2pix's lambda)")
    feature_weight: float = Field(10.0, ge=0, description="weight of discriminator feature matching (pix2pixHD): "
                                  "L1 between the discriminator's features of the real and the generated pair")
    steps: int = Field(1000, gt=0, description="training iterations (one discriminator and one generator update)")
    batch_size: int = Field(4, gt=0, description="volume pairs per iteration")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate of the generator (betas 0.5, 0.999)")
    lr_d: float = Field(2e-4, gt=0, description="Adam learning rate of the discriminator")
    ema: float = Field(0.0, ge=0, lt=1, description="exponential moving average of the generator's weights, "
                       "which then sample (0: none, as pix2pix)")
    augment: list[Literal["flip"]] = Field([], description="random flips of each training pair (image and mask "
                                           "together) along each axis")
    sample_batch_size: int = Field(4, gt=0, description="volumes generated together", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _check(self):
        if self.checkpoint == "heldout-loss" and self.l1_weight == 0:
            raise ValueError("checkpoint: heldout-loss scores the L1 to held-out images; it needs l1_weight > 0")
        return self


class Pix2PixGenerator(CheckpointedGenerator, Generator):
    """Image + label pairs from a mask-conditioned 3-D GAN, the MAISI-era GAN baseline.

    The generator, a MONAI ``UNet`` (spatial_dims=3), maps the mask's one-hot foreground channels and
    ``noise_channels`` Gaussian noise volumes to an image (tanh); dropout stays on when sampling, as in
    pix2pix. MONAI's ``PatchDiscriminator`` judges (mask, image) pairs with ``PatchAdversarialLoss``;
    the generator also minimises the L1 distance to the real image (``l1_weight``) and matches the
    discriminator's intermediate features of the real pair (``feature_weight``, pix2pixHD). MONAI's
    ``PerceptualLoss`` is not used: its networks are hub downloads. Masks come from the real labels
    exactly as for ``medical.mask2image`` (the condition's ``source_id``, perturbed), and each image is
    returned with its mask as ``Record.target``. ``pretrain`` on unlabelled volumes (a pool) trains an
    unconditional GAN with the mask channels at 0 ("no mask"; feature matching of batch means, no L1),
    ``fine_tune`` continues on labelled pairs (``core.pretrain-finetune``). ``checkpoint: heldout-loss``
    keeps the weights with the lowest L1 on held-out training pairs, ``copy-share`` the latest whose
    samples copy no more than held-out volumes do."""

    Params = Pix2PixParams
    version = "1"
    who = "medical.pix2pix"

    # -- networks ---------------------------------------------------------------------

    def _setup(self, records, k: int) -> None:
        p = self.params
        shape = volume_shape(records)
        check_divisible(shape[1:], len(p.channels), self.who)
        g_cfg = {"spatial_dims": 3, "in_channels": k - 1 + p.noise_channels, "out_channels": shape[0],
                 "channels": list(p.channels), "strides": [2] * (len(p.channels) - 1),
                 "num_res_units": p.num_res_units, "dropout": p.dropout}
        d_cfg = {"spatial_dims": 3, "channels": p.disc_channels, "in_channels": k - 1 + shape[0],
                 "num_layers_d": p.disc_layers, "norm": p.disc_norm.upper(), "last_conv_kernel_size": 3}
        self.info = {"generator_config": g_cfg, "discriminator_config": d_cfg, "shape": list(shape),
                     "label_classes": k, "affine": np.asarray(records[0].meta.get("affine", np.eye(4))).tolist()}

    def _new_networks(self, seed: int) -> None:
        import torch
        from monai.networks.nets import PatchDiscriminator

        from gda_core.torch.accelerators import seeded

        with seeded(seed):
            self.net_g = _build_generator(self.info["generator_config"])
            self.net_d = PatchDiscriminator(**self.info["discriminator_config"])
        shape = self.info["shape"]
        probe = torch.zeros((2, self.info["discriminator_config"]["in_channels"], *shape[1:]))
        try:
            with torch.no_grad():
                small = min(self.net_d.eval()(probe)[-1].shape[2:]) < 1
        except RuntimeError:  # a convolution's kernel is larger than what is left of the volume
            small = True
        if small:
            raise DataError(f"generator.params.disc_layers: {self.params.disc_layers} layers shrink volumes of size "
                            f"{shape[1:]} to nothing; use fewer")

    def _conditioning(self, masks, k: int):
        import torch

        return one_hot(torch.from_numpy(np.asarray(masks).astype(np.int64)), k)

    def _g_input(self, cond, generator):
        import torch

        nc = self.params.noise_channels
        if not nc:
            return cond
        noise = torch.randn((cond.shape[0], nc, *cond.shape[2:]), generator=generator)
        return torch.cat([cond, noise.to(cond.device, cond.dtype)], dim=1)

    # -- fitting ----------------------------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        missing = [r.id for r in train.records if r.target is None]
        if missing:
            raise DataError(f"{self.who} needs a label volume for every training volume; {missing[0]!r} has none")
        k = num_label_classes(train.records)
        self._setup(train.records, k)
        self._new_networks(context.seed)
        self._train(train.records, context, desc=f"train {self.who}", paired=True)

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None,
                 label_classes: int | None = None) -> None:
        """Fit on volumes without masks (a pool): an unconditional GAN, the mask channels all 0 ("no mask",
        between the one-hot values -1 and 1), so fine-tuning adds the masks. ``label_classes`` (default 2)
        sizes the mask channels; ``steps`` overrides ``steps``."""
        self._setup(pool.records, label_classes or 2)
        self._new_networks(context.seed)
        self._train(pool.records, context, desc=f"pretrain {self.who}", paired=False, steps=steps, select=False)

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training both pretrained networks on labelled pairs, conditioned on their masks."""
        if lora_rank:
            raise ConfigError(f"strategy.params.lora_rank: {self.who} fine-tunes every weight; set it to 0")
        if getattr(self, "net_g", None) is None:
            raise DataError(f"{self.who}: fine_tune needs a pretrained model (call pretrain first)")
        missing = [r.id for r in train.records if r.target is None]
        if missing:
            raise DataError(f"{self.who}: fine-tuning needs a label volume on every record; {missing[0]!r} has none")
        k = int(self.info["label_classes"])
        if num_label_classes(train.records) > k:
            raise DataError(f"{self.who}: the labels have {num_label_classes(train.records)} classes, the "
                            f"pretrained model {k} (pretrain with label_classes)")
        if list(volume_shape(train.records)) != self.info["shape"]:
            raise DataError(f"{self.who}: volumes of shape {list(volume_shape(train.records))}, the pretrained "
                            f"model {self.info['shape']}")
        self._train(train.records, context, desc=f"fine-tune {self.who}", paired=True, steps=steps, seed_offset=1)

    def _train(self, records, context, *, desc: str, paired: bool, steps: int | None = None, select: bool = True,
               seed_offset: int = 0) -> None:
        import torch
        from monai.losses import PatchAdversarialLoss

        from gda_core.torch.accelerators import seeded
        from gda_core.torch.training import EMA, Optim, TrainingLoop, fit_key

        p = self.params
        steps = p.steps if steps is None else steps
        k = int(self.info["label_classes"])
        x = to_model_range(torch.from_numpy(stack_images(records)))
        if paired:
            cond = self._conditioning(stack_targets(records), k)
        else:
            cond = torch.zeros((len(x), k - 1, *x.shape[2:]))
        chooser = None
        if select and p.checkpoint != "last":
            x, cond, chooser = self._chooser(x, cond, context.seed + seed_offset)
        adv = PatchAdversarialLoss(criterion=p.criterion)

        def step(s):
            net_g, net_d = s.modules["generator"], s.modules["discriminator"]
            idx = torch.randint(0, len(x), (min(p.batch_size, len(x)),), generator=s.generator)
            xb, cb = x[idx], cond[idx]
            if "flip" in p.augment:
                xb, cb = _flip_pairs(xb, cb, s.generator)
            xb, cb = xb.to(s.device), cb.to(s.device)
            with s.autocast():
                fake = torch.tanh(net_g(self._g_input(cb, s.generator)))
                d_real = net_d(torch.cat([cb, xb], dim=1))
                d_fake = net_d(torch.cat([cb, fake.detach()], dim=1))
                loss_d = 0.5 * (adv(d_fake[-1].float(), target_is_real=False, for_discriminator=True)
                                + adv(d_real[-1].float(), target_is_real=True, for_discriminator=True))
            s.update("discriminator", loss_d)
            with s.autocast():
                d_gen = net_d(torch.cat([cb, fake], dim=1))
                loss_g = adv(d_gen[-1].float(), target_is_real=True, for_discriminator=False)
                l1 = (fake.float() - xb.float()).abs().mean()
                if paired:
                    loss_g = loss_g + p.l1_weight * l1
                if p.feature_weight:
                    loss_g = loss_g + p.feature_weight * _feature_matching(d_gen[:-1], d_real[:-1], paired)
            s.update("generator", loss_g)
            return {"generator": loss_g, "discriminator": loss_d, "l1": l1}

        optimizers = {"discriminator": Optim("discriminator", lr=p.lr_d, betas=(0.5, 0.999), clip=None),
                      "generator": Optim("generator", lr=p.lr, betas=(0.5, 0.999), clip=None)}
        seed = context.seed * 7919 + 31 + seed_offset
        loop = TrainingLoop({"generator": self.net_g, "discriminator": self.net_d}, step, optimizers, steps=steps,
                            seed=seed, device=p.device, precision=p.precision, ema={"generator": EMA(p.ema)},
                            chooser=chooser, choose="generator", context=context, desc=desc,
                            key=fit_key(self, x, cond))
        with seeded(seed, loop.device):  # dropout draws from torch's global generator: seed it for this fit
            result = loop.run()
        self.net_g, self.net_d = result.modules["generator"], result.modules["discriminator"]
        self.losses_ = result.losses
        self.checkpoints_ = result.checkpoints
        self.info["checkpoint_step"] = result.checkpoint_step
        self.info["final_l1"] = result.tail_loss("l1")

    def _chooser(self, x, cond, seed: int):
        """Hold out ``holdout`` of the pairs; the chooser scores the L1 of the generator's images for the
        held-out masks (dropout off, fixed noise), or the near-copy share of images for kept masks."""
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.diffusion import CheckpointChooser, holdout_split

        p = self.params
        keep, held = holdout_split(len(x), p.holdout, seed, who=self.who)
        xh, ch = x[held], cond[held]
        x, cond = x[keep], cond[keep]
        pick = torch.randperm(len(x), generator=torch_generator(seed))[:32]

        def heldout_loss(net_g) -> float:
            fake = self._images(net_g, ch, seed, dropout=False)
            return float((fake - xh).abs().mean())

        def samples(net_g) -> np.ndarray:
            return self._images(net_g, cond[pick], seed, dropout=self.params.sample_dropout).numpy()

        chooser = CheckpointChooser(p, train=x.numpy(), held=xh.numpy(), heldout_loss=heldout_loss, sample=samples)
        return x, cond, chooser

    # -- sampling ---------------------------------------------------------------------

    def _images(self, net_g, cond, seed: int, *, dropout: bool, context=None):
        """Model-range images (n, C, ...) for conditioning channels ``cond`` (n, k-1, ...), seeded noise and
        dropout; CPU float32."""
        import torch

        from gda_core.torch.accelerators import autocast, seeded, torch_generator

        p = self.params
        dev = next(net_g.parameters()).device
        was = net_g.training
        net_g.eval()
        if dropout:
            for m in net_g.modules():
                if isinstance(m, torch.nn.modules.dropout._DropoutNd):
                    m.train()
        out = []
        starts = list(range(0, len(cond), p.sample_batch_size))
        it = context.progress(starts, desc=f"{self.who} sample", total=len(starts)) if context is not None else starts
        with torch.no_grad():
            for b in it:
                cb = cond[b:b + p.sample_batch_size].to(dev)
                inp = self._g_input(cb, torch_generator(seed * 1_000_003 + b))
                with seeded(seed + b, dev), autocast(dev, p.precision):
                    out.append(torch.tanh(net_g(inp)).float().cpu())
        net_g.train(was)
        return torch.cat(out)

    def masks_for(self, conditions: Sequence[dict[str, Any]], seed: int, context: RunContext) -> list[np.ndarray]:
        """The (perturbed) label volume each condition asks for (:func:`gda_medical.masks.masks_for`)."""
        return masks_for(conditions, seed, context, self.params, self.who)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("net_g")
        if not conditions:
            return []
        k = int(self.info["label_classes"])
        masks = self.masks_for(conditions, seed, context)
        imgs = self._images(self.net_g, self._conditioning(np.stack(masks), k), seed,
                            dropout=self.params.sample_dropout, context=context)
        out = []
        for i, cond in enumerate(conditions):
            ref = reference_record(cond, context)
            affine = affine_of(ref).tolist() if ref is not None else self.info["affine"]
            out.append(Record(id="", data=from_model_range(imgs[i]).numpy().astype(np.float32), label=cond.get("label"),
                              target=masks[i], meta={"affine": affine}))
        return out

    # -- persistence ------------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self._require_fitted("net_g", action="save")
        save_module(self.net_g, self.info["generator_config"], Path(path) / "generator", extra={"info": self.info})
        save_module(self.net_d, self.info["discriminator_config"], Path(path) / "discriminator")

    def load_state(self, path: Path) -> None:
        from monai.networks.nets import PatchDiscriminator

        from ..volumes import load_weights

        cfg = read_config(Path(path) / "generator")
        self.info = dict(cfg.get("info", {}))
        self.net_g = _build_generator(cfg["init"])
        load_weights(self.net_g, Path(path) / "generator")
        self.net_d = PatchDiscriminator(**read_config(Path(path) / "discriminator")["init"])
        load_weights(self.net_d, Path(path) / "discriminator")
        self.net_g.eval()
        self.net_d.eval()


def _build_generator(config: dict):
    from monai.networks.nets import UNet

    return UNet(**config)


def _flip_pairs(x, cond, generator):
    """Flip each pair (image and mask together) along each spatial axis with probability 1/2."""
    import torch

    xs, cs = [], []
    for i in range(len(x)):
        dims = [a + 1 for a in range(3) if float(torch.rand(1, generator=generator)) < 0.5]
        xs.append(torch.flip(x[i], dims=dims) if dims else x[i])
        cs.append(torch.flip(cond[i], dims=dims) if dims else cond[i])
    return torch.stack(xs), torch.stack(cs)


def _feature_matching(fake_feats, real_feats, paired: bool):
    """Mean L1 between the discriminator's features of generated and real inputs, per layer: of each pair
    (``paired``), else of the batch means (Salimans et al. 2016)."""
    total = 0.0
    for f, r in zip(fake_feats, real_feats):
        r = r.detach()
        if not paired:
            f, r = f.mean(0), r.mean(0)
        total = total + (f.float() - r.float()).abs().mean()
    return total / max(1, len(fake_feats))
