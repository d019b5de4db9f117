"""vision.gan settings on digits, outside the bench's test splits: DiffAugment, learning rate, EMA.

Digits' training split of run seed 100 (the same 70/30 stratified split ``vision.digits`` draws;
no test split of it is read): the first 900 training images, with their labels, fit the GAN; the
other training images are the reference. 50 samples per class are scored by PRDC (k=5, pixels)
against the reference, beside 500 real training images' scores (the real floor), with the mean
pairwise distance of each class's samples (diversity) beside the real images'. One line per variant.

    python benchmarks/gan_settings_digits.py --width 16 --steps 1500 \\
        --variants '{"default": {}, "no DiffAugment": {"diffaugment": []}, "lr 1e-3": {"learning_rate": 1e-3}}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gda_core.builtin.validators.prdc import prdc
from gda_core.context import RunContext
from gda_core.host import host
from gda_core.records import Dataset, Record


def _diversity(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over classes of the mean pairwise distance between a class's rows."""
    out = []
    for c in np.unique(y):
        a = x[y == c][:50]
        out.append(np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1)).mean())
    return float(np.mean(out))


def main() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=100, help="the split's run seed (outside the bench's 0-4)")
    ap.add_argument("--variants", default='{"default": {}, "no DiffAugment": {"diffaugment": []}}',
                    help="JSON: name -> vision.gan parameters over the base settings")
    args = ap.parse_args()
    digits = load_digits()
    X, y = digits.images / 16.0, digits.target
    train_idx, _test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=args.seed, stratify=y)
    fit_idx, ref_idx = train_idx[:900], train_idx[900:]
    train = Dataset([Record(id=f"r{i}", data=X[i][None].astype(np.float32), label=str(y[i])) for i in fit_idx],
                    modality="image", classes=[str(c) for c in range(10)])
    ref = X[ref_idx].reshape(len(ref_idx), -1)
    floor = prdc(ref, X[fit_idx[:500]].reshape(500, -1), 5)
    real_div = _diversity(X[fit_idx].reshape(len(fit_idx), -1), y[fit_idx])
    base = {"width": args.width, "latent_dim": 64, "train_steps": args.steps, "batch_size": 64, "device": "cpu"}
    conditions = [{"label": str(c)} for c in range(10) for _ in range(50)]
    for name, over in json.loads(args.variants).items():
        gen = host.create("generators", "vision.gan", {**base, **over})
        start = time.time()
        gen.fit(train, RunContext(train=train, test=None, seed=0, quiet=True))
        fit_s = time.time() - start
        x = np.stack([r.data for r in gen.generate(conditions, seed=3, context=None)]).reshape(500, -1)
        labels = np.array([int(c["label"]) for c in conditions])
        scores = prdc(ref, x, 5)
        print(json.dumps({"variant": name, "params": over, **{k: round(v, 3) for k, v in scores.items()},
                          "diversity": round(_diversity(x, labels), 2), "real_diversity": round(real_div, 2),
                          "real_floor": {k: round(v, 3) for k, v in floor.items()}, "fit_s": round(fit_s)}),
              flush=True)


if __name__ == "__main__":
    main()
