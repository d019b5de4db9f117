"""Volume metrics shared by selectors and validators: MS-SSIM sized for small volumes, MMD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(spatial: Sequence[int], scales: int, kernel_size: int) -> tuple[tuple[float, ...], int]:
    """Weights and kernel size that MONAI's MS-SSIM accepts for volumes of size ``spatial``:
    fewer scales and a smaller (odd) kernel on small volumes. Two conditions: MONAI's own check
    (size // (scales - 1)**2 above kernel - 1) and the kernel fitting the last scale, which MONAI
    computes on volumes halved scales - 1 times (its check misses that at 2 scales: 8^3 passed
    with a 7-kernel, then failed on the 4^3 second scale)."""
    scales = max(1, min(scales, len(MS_SSIM_WEIGHTS)))
    smallest = min(spatial)
    while True:
        div = max(max(1, scales - 1) ** 2, 2 ** (scales - 1))
        k = kernel_size if kernel_size % 2 else kernel_size - 1
        while k > 1 and smallest // div <= k - 1:
            k -= 2
        if k >= 3 or scales == 1:
            break
        scales -= 1
    w = np.asarray(MS_SSIM_WEIGHTS[:scales], dtype=float)
    return tuple((w / w.sum()).tolist()), max(k, 1)


def ms_ssim_matrix(a: np.ndarray, b: np.ndarray, *, scales: int = 3, kernel_size: int = 7,
                   data_range: float = 1.0, batch: int = 16) -> np.ndarray:
    """MS-SSIM between every volume of ``a`` (N, C, D, H, W) and every one of ``b`` (M, ...)."""
    import torch
    from monai.metrics.regression import compute_ms_ssim

    weights, k = ms_ssim_settings(a.shape[2:], scales, kernel_size)
    ta = torch.as_tensor(np.asarray(a, dtype=np.float32))
    tb = torch.as_tensor(np.asarray(b, dtype=np.float32))
    out = np.zeros((len(ta), len(tb)))
    pairs = [(i, j) for i in range(len(ta)) for j in range(len(tb))]
    with torch.no_grad():
        for s in range(0, len(pairs), batch):
            chunk = pairs[s:s + batch]
            x = ta[[i for i, _ in chunk]]
            y = tb[[j for _, j in chunk]]
            v = compute_ms_ssim(x, y, spatial_dims=3, data_range=data_range, kernel_size=k, weights=weights)
            v = v.reshape(len(chunk), -1).mean(1).numpy()
            for (i, j), val in zip(chunk, v):
                out[i, j] = val
    return out


def monai_mmd(real: np.ndarray, fake: np.ndarray, pool: int = 1, draws: int = 8, seed: int = 0) -> float:
    """MONAI's ``MMDMetric`` (unbiased, linear kernel) between two sets of volumes, optionally
    average-pooled by ``pool`` first. MONAI wants equally many volumes on both sides: with
    unequal sets the larger one is subsampled ``draws`` times (seeded) and the values averaged."""
    import torch
    from monai.metrics import MMDMetric

    mapping = None
    if pool > 1:
        def mapping(t):
            return torch.nn.functional.avg_pool3d(t, pool)
    metric = MMDMetric(y_mapping=mapping)
    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    n = min(len(real), len(fake))
    if n < 2:
        raise ValueError("MMD needs at least two volumes on each side")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(1 if len(real) == len(fake) else draws):
        r = real if len(real) == n else real[np.sort(rng.choice(len(real), n, replace=False))]
        f = fake if len(fake) == n else fake[np.sort(rng.choice(len(fake), n, replace=False))]
        with torch.no_grad():
            values.append(float(metric(torch.as_tensor(r), torch.as_tensor(f))))
    return float(np.mean(values))
