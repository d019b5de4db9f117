"""Training the small 1-D CNN shared by signal.embedder and signal.classifier."""

from __future__ import annotations

import numpy as np


def train_cnn(X: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int, epochs: int, width: int,
              lr: float = 3e-3, batch_size: int = 32, device: str = "auto", progress=None):
    """Fit :class:`CNN1D` on (N, C, L) series with integer labels; returns the model in eval mode."""
    import torch

    from gda_core.torch.accelerators import apply_thread_setting, pick_device

    from ._nets import CNN1D

    apply_thread_setting()  # once per process
    dev = pick_device(device)
    torch.manual_seed(seed)
    model = CNN1D(X.shape[1], n_classes, width).to(dev)
    data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(dev)
    labels = torch.from_numpy(np.asarray(y)).long().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    gen = torch.Generator().manual_seed(seed)
    epochs_it = range(epochs) if progress is None else progress(range(epochs), desc="1-D CNN", total=epochs)
    model.train()
    for _ in epochs_it:
        perm = torch.randperm(len(data), generator=gen).to(dev)
        for i in range(0, len(data), batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = torch.nn.functional.cross_entropy(model(data[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def cnn_apply(model, X: np.ndarray, what: str = "logits", batch_size: int = 256) -> np.ndarray:
    import torch

    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32)).to(dev)
            out.append((model.features(x) if what == "features" else model(x)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
