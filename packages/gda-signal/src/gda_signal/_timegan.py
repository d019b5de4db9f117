"""TimeGAN's post-hoc scores (Yoon et al., NeurIPS 2019, reference code ``metrics/``).

Series are min-max scaled per channel with the real training set's range (the
reference scales its data to [0, 1] before every metric) and laid out (N, T, D).
"""

from __future__ import annotations

import numpy as np


def minmax(X: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, C, L) to (N, L, C), scaled to [0, 1] with per-channel bounds."""
    Z = (X - lo[None, :, None]) / np.maximum(hi - lo, 1e-7)[None, :, None]
    return np.ascontiguousarray(Z.transpose(0, 2, 1), dtype=np.float32)


def discriminative_score(real: np.ndarray, fake: np.ndarray, *, iterations: int, batch_size: int, seed: int,
                         train_rate: float = 0.8, device: str = "cpu") -> float:
    """|accuracy - 0.5| of a post-hoc GRU told real from synthetic on a held-out split.

    ``real``, ``fake``: (N, T, D) in [0, 1]; the larger set is subsampled to the size of the
    smaller, as the reference compares equal-size sets. The GRU's hidden size is ``max(1, D // 2)``.
    """
    import torch

    from ._nets import GRUClassifier

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def split(a):
        idx = rng.permutation(len(a))
        n = max(1, min(len(a) - 1, int(round(train_rate * len(a)))))
        return a[idx[:n]], a[idx[n:]]

    # the reference compares sets of equal size, so chance is 0.5: subsample the larger one
    n = min(len(real), len(fake))
    real, fake = real[rng.permutation(len(real))[:n]], fake[rng.permutation(len(fake))[:n]]
    r_tr, r_te = split(real)
    f_tr, f_te = split(fake)
    D = real.shape[-1]
    model = GRUClassifier(D, max(1, D // 2)).to(device)
    opt = torch.optim.Adam(model.parameters())
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    tr_r, tr_f = torch.from_numpy(r_tr).to(device), torch.from_numpy(f_tr).to(device)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        ir = torch.randint(0, len(tr_r), (min(batch_size, len(tr_r)),), generator=gen).to(device)
        jf = torch.randint(0, len(tr_f), (min(batch_size, len(tr_f)),), generator=gen).to(device)
        lr_, lf_ = model(tr_r[ir]), model(tr_f[jf])
        loss = bce(lr_, torch.ones_like(lr_)) + bce(lf_, torch.zeros_like(lf_))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pr = torch.sigmoid(model(torch.from_numpy(r_te).to(device))).cpu().numpy()
        pf = torch.sigmoid(model(torch.from_numpy(f_te).to(device))).cpu().numpy()
    correct = np.concatenate([pr > 0.5, pf <= 0.5])
    return float(abs(correct.mean() - 0.5))


def _predict_io(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-step targets: the reference predicts the last channel from the others;
    with one channel the series predicts its own next value."""
    if X.shape[-1] > 1:
        return X[:, :-1, :-1], X[:, 1:, -1:]
    return X[:, :-1, :], X[:, 1:, :]


def predictive_score(train: np.ndarray, test: np.ndarray, *, iterations: int, batch_size: int, seed: int,
                     device: str = "cpu") -> float:
    """Mean absolute error on ``test`` of a GRU next-step predictor trained on ``train`` ((N, T, D) in [0, 1])."""
    import torch

    from ._nets import GRUPredictor

    torch.manual_seed(seed)
    xi, yi = (torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in _predict_io(train))
    D = train.shape[-1]
    model = GRUPredictor(xi.shape[-1], max(1, D // 2), yi.shape[-1]).to(device)
    opt = torch.optim.Adam(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        idx = torch.randint(0, len(xi), (min(batch_size, len(xi)),), generator=gen).to(device)
        loss = torch.nn.functional.l1_loss(model(xi[idx]), yi[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    xt, yt = _predict_io(test)
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(xt)).to(device)).cpu().numpy()
    # the reference averages each sequence's MAE over the sequences
    return float(np.mean(np.abs(pred - yt).mean(axis=(1, 2))))
