"""``medical.ldm3d``: latent diffusion for volumes in the style of MAISI (MONAI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.errors import ConfigError, GDAError
from gda_core.records import Record
from gda_core.torch.accelerators import seeded
from gda_core.torch.diffusion import InterpolationParams

from ..volumes import (
    check_channels,
    check_divisible,
    from_model_range,
    load_weights,
    num_label_classes,
    read_config,
    save_module,
    volume_shape,
)
from .diffusion_base import DiffusionGenerator, DiffusionParams, build_unet, image_label_volumes, unet_config

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.components import Params
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class LDM3DParams(InterpolationParams, DiffusionParams):
    channels: list[int] = Field([16, 32], min_length=1, description="latent diffusion UNet channels per level")
    steps: int = Field(1500, ge=0, description="latent diffusion training iterations (0: use it as loaded)")
    ae_channels: list[int] = Field([8, 16], min_length=1, description="autoencoder channels per level "
                                   "(each level after the first halves the volume)")
    latent_channels: int = Field(2, ge=1, description="channels of the autoencoder's latent space")
    ae_steps: int = Field(600, ge=0, description="autoencoder training iterations (0: use it as loaded)")
    ae_lr: float = Field(2e-3, gt=0, description="autoencoder learning rate")
    kl_weight: float = Field(1e-6, ge=0, description="weight of the KL term against the L1 reconstruction")
    autoencoder_class: Literal["AutoencoderKL", "AutoencoderKlMaisi"] = Field(
        "AutoencoderKL", description="MONAI class of the first stage (AutoencoderKlMaisi for MAISI weights)")
    autoencoder_config: dict[str, Any] | None = Field(
        None, description="constructor arguments of the autoencoder, overriding the ones built from ae_*")
    autoencoder_path: str | None = Field(
        None, description="local pretrained autoencoder: a folder saved by this generator, a .safetensors "
        "or a torch checkpoint matching the configured architecture (MAISI's autoencoder, say)")
    diffusion_path: str | None = Field(
        None, description="local pretrained latent diffusion UNet weights (folder, .safetensors or .pt)")
    with_label: bool = Field(False, description="encode the label volume as an extra channel and return it")

    @model_validator(mode="after")
    def _check_ae(self):
        if self.autoencoder_config is None:
            check_channels(self.ae_channels, self.norm_num_groups, "ae_channels")
        if self.autoencoder_config is None and self.autoencoder_class == "AutoencoderKlMaisi":
            raise ValueError("autoencoder_config: required with autoencoder_class=AutoencoderKlMaisi")
        return self


def build_autoencoder(kind: str, config: dict[str, Any]) -> Any:
    if kind == "AutoencoderKlMaisi":
        from monai.apps.generation.maisi.networks.autoencoderkl_maisi import AutoencoderKlMaisi

        return AutoencoderKlMaisi(**config)
    from monai.networks.nets import AutoencoderKL

    return AutoencoderKL(**config)


class LatentDiffusion3DGenerator(DiffusionGenerator):
    """3-D latent diffusion in the style of MAISI: AutoencoderKL + latent DiffusionModelUNet.

    A MONAI ``AutoencoderKL`` is trained on the volumes
    (L1 + KL), a ``DiffusionModelUNet`` trained in its latent space, sampled through
    ``LatentDiffusionInferer``. Both stages are saved (safetensors) and reload; pretrained
    autoencoder or diffusion weights are read from a local path when given. ``checkpoint`` picks
    the latent UNet's weights by a held-out criterion on latents of held-out training volumes;
    ``interpolate`` decodes a spherical interpolation of two DDIM-inverted latents of the class.
    ``pretrain`` (both stages on a pool of volumes without masks) and ``fine_tune`` (the latent
    UNet, and with ``with_label`` the autoencoder too, on labelled volumes) implement the
    warm-start API of :mod:`gda_core.builtin.pool`."""

    data_kind = "arrays"
    Params = LDM3DParams
    who = "medical.ldm3d"

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.autoencoder = None

    def _ae_config(self, in_channels: int) -> dict[str, Any]:
        p = self.params
        if p.autoencoder_config is not None:
            return dict(p.autoencoder_config)
        n = len(p.ae_channels)
        return {"spatial_dims": 3, "in_channels": in_channels, "out_channels": in_channels,
                "channels": list(p.ae_channels), "latent_channels": p.latent_channels,
                "num_res_blocks": [1] * n, "attention_levels": [False] * n, "norm_num_groups": p.norm_num_groups,
                "with_encoder_nonlocal_attn": False, "with_decoder_nonlocal_attn": False}

    def _fit_autoencoder(self, x, context, desc: str = "train autoencoder") -> None:
        """Train the autoencoder (L1 reconstruction + ``kl_weight`` x KL) through GDA's training loop."""
        import torch

        from gda_core.torch.training import Optim, TrainingLoop, fit_key

        p, dev = self.params, self.device

        def step(s):
            idx = torch.randint(0, len(x), (min(p.batch_size, len(x)),), generator=s.generator)
            xb = x[idx].to(dev)
            # the posterior sample inside ae() draws from torch's global generator: seed it per step
            with seeded(context.seed * 31 + 6 + s.index, dev), s.autocast():
                recon, mu, sigma = s.modules["autoencoder"](xb)
                rec = torch.nn.functional.l1_loss(recon.float(), xb)
                kl = 0.5 * (mu.float() ** 2 + sigma.float() ** 2 - torch.log(sigma.float() ** 2 + 1e-8) - 1)
                kl = kl.flatten(1).sum(1).mean()
                return {"loss": rec + p.kl_weight * kl, "reconstruction": rec, "kl": kl}

        optim = Optim("autoencoder", lr=p.ae_lr, weight_decay=1e-5)
        result = TrainingLoop({"autoencoder": self.autoencoder}, step, {"autoencoder": optim}, steps=p.ae_steps,
                              seed=context.seed * 31 + 5, device=dev, precision=p.precision, context=context,
                              desc=desc, key=fit_key(self, x)).run()
        self.autoencoder = result.modules["autoencoder"]
        if result.losses:
            self.info["ae_l1"] = result.tail_loss("reconstruction")

    def _encode(self, x):
        import torch

        dev = self.device
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.params.sample_batch_size):
                out.append(self.autoencoder.encode_stage_2_inputs(x[i:i + self.params.sample_batch_size].to(dev))
                           .float().cpu())
        return torch.cat(out)

    def fit(self, train: Dataset, context: RunContext) -> None:
        p = self.params
        use_label = p.with_label and all(r.target is not None for r in train.records)
        self._fit_stages(train.records, num_label_classes(train.records) if use_label else 0, context)

    def _fit_stages(self, records, k: int, context, *, steps: int | None = None, select: bool = True,
                    desc: str = "train latent diffusion") -> None:
        """Build (or load) and train both stages on ``records`` (``k`` label classes, 0: images only)."""
        p = self.params
        shape = volume_shape(records)
        levels = len(p.ae_channels) if p.autoencoder_config is None else len(p.autoencoder_config.get("channels", [1]))
        check_divisible(shape[1:], levels, "medical.ldm3d autoencoder")
        x = image_label_volumes(records, k)
        ae_cfg = self._ae_config(x.shape[1])
        with seeded(context.seed):
            self.autoencoder = build_autoencoder(p.autoencoder_class, ae_cfg)
        if p.autoencoder_path:
            self._load_pretrained(self.autoencoder, p.autoencoder_path, "autoencoder_path")
        self.info = {"ae_config": ae_cfg, "ae_class": p.autoencoder_class, "shape": list(shape),
                     "label_classes": k, "affine": np.asarray(records[0].meta.get("affine", np.eye(4))).tolist()}
        if p.ae_steps:
            self._fit_autoencoder(x, context, desc=desc.replace("latent diffusion", "autoencoder"))
        with seeded(context.seed + 2):  # encode_stage_2_inputs samples from the posterior
            z = self._encode(x)
        self.info["latent_shape"] = list(z.shape[1:])
        check_divisible(z.shape[2:], len(p.channels), "medical.ldm3d latent UNet")
        self.info["scale_factor"] = self._pretrained_scale(p.diffusion_path) or float(1.0 / max(float(z.std()), 1e-6))
        z = z * self.info["scale_factor"]
        cfg = unet_config(p, z.shape[1], z.shape[1])
        self.info["unet_config"] = cfg
        with seeded(context.seed + 1):
            self.unet = build_unet(cfg)
        if p.diffusion_path:
            self._load_pretrained(self.unet, p.diffusion_path, "diffusion_path")
        if p.steps if steps is None else steps:
            self._fit_unet(z, None, context, desc=desc, steps=steps, select=select)

    # -- warm start (the optional API of gda_core.builtin.pool) ----------------

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None,
                 label_classes: int | None = None) -> None:
        """Fit both stages on volumes without masks (a pool): the autoencoder for ``ae_steps``, the latent
        UNet for ``steps`` (overriding ``steps``). With ``with_label`` the label channel is kept, all
        background, and learnt when fine-tuning; ``label_classes`` (default 2) sizes it."""
        k = (label_classes or 2) if self.params.with_label else 0
        self._fit_stages(pool.records, k, context, steps=steps, select=False, desc="pretrain latent diffusion")
        self.info["pretrained_steps"] = self.params.steps if steps is None else steps

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained latent UNet on labelled volumes, encoded by the pretrained
        autoencoder (its scale factor kept); with a label channel the autoencoder is fine-tuned first
        for ``ae_steps``, since the pool taught it no labels."""
        k = self._check_fine_tune(train, lora_rank, "medical.ldm3d")
        x = image_label_volumes(train.records, k)
        if k and self.params.ae_steps:
            self._fit_autoencoder(x, context, desc="fine-tune autoencoder")
        with seeded(context.seed + 2):
            z = self._encode(x) * self.info["scale_factor"]
        self._fit_unet(z, None, context, desc="fine-tune latent diffusion", steps=steps, seed_offset=1)

    @staticmethod
    def _pretrained_scale(path: str | None) -> float | None:
        """The latent scale factor a diffusion model saved by this generator was trained with."""
        if not path:
            return None
        folder = Path(path).expanduser()
        folder = folder / "unet" if (folder / "unet").is_dir() else folder
        try:
            return float(read_config(folder)["info"]["scale_factor"])
        except (GDAError, KeyError, TypeError, ValueError):
            return None

    @staticmethod
    def _load_pretrained(module, path: str, field: str) -> None:
        target = Path(path).expanduser()
        if target.is_dir() and (target / "autoencoder").is_dir() and field == "autoencoder_path":
            target = target / "autoencoder"
        if target.is_dir() and (target / "unet").is_dir() and field == "diffusion_path":
            target = target / "unet"
        try:
            load_weights(module, target)
        except GDAError as exc:
            raise ConfigError(f"generator.params.{field}: {exc}") from exc

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        """Sample latents (from noise, or at ``strength`` < 1 from the encoded source volumes) and decode
        them with the autoencoder, as MONAI's ``LatentDiffusionInferer`` does."""
        n = len(conditions)
        if n == 0:
            return []
        self._require_fitted("unet", "autoencoder")
        p = self.params
        shape, lat = tuple(self.info["shape"]), tuple(self.info["latent_shape"])
        k = int(self.info.get("label_classes", 0))
        ae = self.autoencoder.to(self.device).eval()
        scale = self.info["scale_factor"]
        init = latents = None
        metas: list[dict] = [{} for _ in conditions]
        if p.interpolate or p.strength < 1.0:
            src = self._sources(conditions, seed, context)
            with seeded(seed + 2):
                init = self._encode(image_label_volumes(src, k)) * scale
            for m, r in zip(metas, src):
                m["source_id"] = r.id
        if p.interpolate:
            partners = self._partners(conditions, src, seed, context)
            with seeded(seed + 3):
                zb = self._encode(image_label_volumes(partners, k)) * scale
            latents, weights = self._interpolation_latents(init, zb, seed)
            for m, r, w in zip(metas, partners, weights):
                m.update(partner_id=r.id, weight=float(w))
        out = self._sample((n, *lat), seed, context=context, init=init, latents=latents,
                           decode=lambda z: ae.decode_stage_2_outputs(z / scale))
        records = []
        for i, cond in enumerate(conditions):
            img = from_model_range(out[i, : shape[0]]).numpy().astype(np.float32)
            target = None
            if k:
                target = np.rint(from_model_range(out[i, shape[0]:]).numpy() * (k - 1)).astype(np.uint8)
            records.append(Record(id="", data=img, label=cond.get("label"), target=target,
                                  meta={"affine": self._affine_for(cond, context), **metas[i]}))
        return records

    def save_state(self, path: Path) -> None:
        self._require_fitted("unet", "autoencoder", action="save")
        save_module(self.autoencoder, self.info["ae_config"], Path(path) / "autoencoder",
                    extra={"class": self.info["ae_class"]})
        save_module(self.unet, self.info["unet_config"], Path(path) / "unet", extra={"info": self.info})

    def load_state(self, path: Path) -> None:
        super().load_state(path)
        folder = Path(path) / "autoencoder"
        cfg = read_config(folder)
        self.autoencoder = build_autoencoder(cfg.get("class", "AutoencoderKL"), cfg["init"])
        load_weights(self.autoencoder, folder)
        self.autoencoder.eval()
