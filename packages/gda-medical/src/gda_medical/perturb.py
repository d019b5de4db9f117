"""Seeded perturbations of label masks (shift, scale, elastic) and of image + label pairs,
built from MONAI's dictionary transforms so image and label move together."""

from __future__ import annotations

from typing import Any

import numpy as np


def _seed(t: Any, seed: int) -> Any:
    t.set_random_state(seed=int(seed) % (2**32))
    return t


def perturb_mask(mask: np.ndarray, seed: int, *, shift: float = 0.1, scale: float = 0.1,
                 rotate: float = 0.0, elastic: float = 0.0) -> np.ndarray:
    """A new label volume from ``mask`` ``(1, D, H, W)``: random translation (fraction of the
    size), isotropic-ish scaling, rotation (radians) and elastic deformation, nearest-neighbour."""
    from monai.transforms import Rand3DElastic, RandAffine

    m = np.asarray(mask)
    out = m.astype(np.float32)
    size = np.asarray(m.shape[1:], dtype=float)
    if shift > 0 or scale > 0 or rotate > 0:
        aff = RandAffine(prob=1.0, translate_range=tuple(shift * size), scale_range=(scale,) * 3,
                         rotate_range=(rotate,) * 3, mode="nearest", padding_mode="zeros")
        out = np.asarray(_seed(aff, seed)(out))
    if elastic > 0:
        el = Rand3DElastic(sigma_range=(3, 5), magnitude_range=(elastic, 2 * elastic), prob=1.0,
                           mode="nearest", padding_mode="zeros")
        out = np.asarray(_seed(el, seed + 1)(out))
    return np.rint(out).astype(m.dtype)


def augment_pair(image: np.ndarray, label: np.ndarray | None, seed: int, *, affine_prob: float = 1.0,
                 rotate: float = 0.2, scale: float = 0.1, shift: float = 0.05, elastic_prob: float = 0.5,
                 elastic_magnitude: float = 1.0, intensity_prob: float = 0.5,
                 noise_std: float = 0.03) -> tuple[np.ndarray, np.ndarray | None]:
    """Classical augmentation of an image ``(C, D, H, W)`` and its label together: MONAI
    ``RandAffined``, ``Rand3DElasticd``, then intensity scaling, contrast and Gaussian noise."""
    from monai import transforms as T

    keys = ["image", "label"] if label is not None else ["image"]
    modes = ["bilinear", "nearest"] if label is not None else ["bilinear"]
    size = np.asarray(image.shape[1:], dtype=float)
    chain = T.Compose([
        T.RandAffined(keys, prob=affine_prob, rotate_range=(rotate,) * 3, scale_range=(scale,) * 3,
                      translate_range=tuple(shift * size), mode=modes, padding_mode="zeros"),
        T.Rand3DElasticd(keys, sigma_range=(4, 6), magnitude_range=(elastic_magnitude, 2 * elastic_magnitude),
                         prob=elastic_prob, mode=modes, padding_mode="zeros"),
        T.RandScaleIntensityd(["image"], factors=0.1, prob=intensity_prob),
        T.RandAdjustContrastd(["image"], gamma=(0.8, 1.25), prob=intensity_prob),
        T.RandGaussianNoised(["image"], std=noise_std, prob=intensity_prob),
    ])
    chain.set_random_state(seed=int(seed) % (2**32))
    sample: dict[str, Any] = {"image": np.asarray(image, dtype=np.float32)}
    if label is not None:
        sample["label"] = np.asarray(label, dtype=np.float32)
    res = chain(sample)
    img = np.clip(np.asarray(res["image"], dtype=np.float32), 0.0, 1.0)
    lab = None if label is None else np.rint(np.asarray(res["label"])).astype(np.asarray(label).dtype)
    return img, lab
