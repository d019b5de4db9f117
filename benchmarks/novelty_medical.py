"""Issue 12 on 3-D phantom segmentation: do mask-conditioned diffusion pairs add information?

For each run seed (which draws new phantoms, seeds the generators and the segmentation UNets)
every method makes a training set of image + label pairs; two MONAI 3-D UNets are trained on it
and scored by Dice on held-out phantoms:

- ``real``: the labelled phantoms;
- ``classical``: + medical.classical (MONAI affine, elastic, intensity transforms);
- ``m2i``: + medical.mask2image trained from scratch, perturbed real masks;
- ``m2i-augment``: the same with non-leaking flip augmentation in training;
- ``m2i-strength``: the m2i model at strength 0.6 from the mask's own real image (masks unperturbed);
- ``m2i-pretrain``: + medical.mask2image pretrained on the unlabelled pool (phantoms without masks),
  fine-tuned on the labelled ones (core.pretrain-finetune).

Near-copy share: synthetic images closer to an image the generator trained on than ``tau`` (5%
quantile of the reference's leave-one-out distances, gda_core.near_copies), beside the held-out share.

    nice -n 5 python benchmarks/novelty_medical.py --seeds 0 1 2 -o runs/novelty-phantoms

Rows go to ``rows.jsonl`` (a rerun skips finished cells); ``summary.md`` has the tables.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

from novelty_signal import near_copies, resume_rows, summarize_rows  # noqa: E402

METHODS = ("real", "classical", "m2i", "m2i-augment", "m2i-strength", "m2i-pretrain")
MODELS = {"unet": {"channels": [8, 16, 32], "steps": 150, "batch_size": 4},
          "unet-small": {"channels": [4, 8], "steps": 75, "batch_size": 4}}


def run_seed(args, seed: int, done: set, write) -> None:
    import torch

    from gda_core.builtin.pool import PretrainFinetuneStrategy
    from gda_core.components import Strategy
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_medical.applications.segmentation import SegmentationApplication
    from gda_medical.datasets import PhantomsDataset
    from gda_medical.generators.classical import ClassicalAugmentation
    from gda_medical.generators.mask2image import Mask2ImageGenerator

    torch.set_num_threads(1)
    boot = RunContext(train=Dataset([]), seed=seed, quiet=True)
    splits = PhantomsDataset(size=args.size, n_train=args.n_train, n_test=args.n_test, num_objs=6, noise_max=0.3,
                             n_pool=args.n_pool).load(boot)
    labelled, test, pool = splits.train, splits.test, splits.pool
    assert not {r.id for r in pool.records} & {r.id for r in test.records}
    ctx = RunContext(train=labelled, test=test, pool=pool, seed=seed, quiet=True)
    counts = {c: args.ratio * len(labelled) for c in labelled.classes}
    conds = Strategy().conditions(counts, labelled, ctx)
    gp = dict(channels=[8, 16, 16], steps=args.steps, batch_size=4, inference_steps=args.inference_steps,
              shift=0.1, scale=0.1, elastic=1.0)

    def emit(method, synthetic, reference=None, seconds=0.0):
        train_set = labelled.with_records(list(labelled.records) + list(synthetic))
        share, share_real = near_copies(synthetic, reference or labelled.records, test) if synthetic else (
            math.nan, math.nan)
        for model, params in MODELS.items():
            t0 = time.perf_counter()
            app = SegmentationApplication(**params)
            score = app.evaluate(train_set, test, seed=seed, context=ctx)["dice"]
            write({"dataset": "phantoms", "seed": seed, "method": method, "model": model, "score": float(score),
                   "n_train": len(train_set), "n_synthetic": len(synthetic), "near_copy_share": share,
                   "near_copy_share_real": share_real, "gen_seconds": round(seconds, 1),
                   "downstream_seconds": round(time.perf_counter() - t0, 1)})

    def want(*methods):
        return any((seed, m) not in done for m in methods)

    if want("real"):
        emit("real", [])
    if want("classical"):
        t0 = time.perf_counter()
        cl = ClassicalAugmentation()
        cl.fit(labelled, ctx)
        emit("classical", cl.generate(conds, seed=seed, context=ctx), seconds=time.perf_counter() - t0)
    if want("m2i", "m2i-strength"):
        t0 = time.perf_counter()
        gen = Mask2ImageGenerator(**gp)
        gen.fit(labelled, ctx)
        fit_s = time.perf_counter() - t0
        if want("m2i"):
            emit("m2i", gen.generate(conds, seed=seed, context=ctx), seconds=time.perf_counter() - t0)
        if want("m2i-strength"):
            g = Mask2ImageGenerator(gen.params.model_copy(update={"strength": 0.6, "perturb": False}))
            g.__dict__.update({k: v for k, v in gen.__dict__.items() if k != "params"})
            t1 = time.perf_counter()
            emit("m2i-strength", g.generate(conds, seed=seed, context=ctx), seconds=fit_s + time.perf_counter() - t1)
    if want("m2i-augment"):
        t0 = time.perf_counter()
        gen = Mask2ImageGenerator(**gp, augment=["flip"])
        gen.fit(labelled, ctx)
        emit("m2i-augment", gen.generate(conds, seed=seed, context=ctx), seconds=time.perf_counter() - t0)
    if want("m2i-pretrain"):
        t0 = time.perf_counter()
        strat = PretrainFinetuneStrategy.from_params({"pretrain_steps": args.steps,
                                                      "finetune_steps": max(1, args.steps // 2)})
        gen = strat.fit(Mask2ImageGenerator(**gp), labelled, ctx)
        emit("m2i-pretrain", gen.generate(conds, seed=seed, context=ctx),
             reference=list(labelled.records) + list(pool.records), seconds=time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--n-train", type=int, default=4)
    ap.add_argument("--n-test", type=int, default=8)
    ap.add_argument("--n-pool", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300, help="mask2image training steps")
    ap.add_argument("--inference-steps", type=int, default=20)
    ap.add_argument("--ratio", type=int, default=3, help="synthetic pairs per real one")
    ap.add_argument("-o", "--output", default="runs/novelty-phantoms")
    args = ap.parse_args()
    out = Path(args.output)
    rows, done, write = resume_rows(out, list(MODELS)[-1], "dice")

    header = (f"phantoms {args.size}^3, {args.n_train} labelled + {args.n_pool} pool, {args.n_test} test, "
              f"mask2image steps {args.steps}, ratio {args.ratio}")
    for seed in args.seeds:
        run_seed(args, seed, done, write)
        summarize_rows(rows, out, header, METHODS, list(MODELS), "Dice")
    print(summarize_rows(rows, out, header, METHODS, list(MODELS), "Dice"))


if __name__ == "__main__":
    main()
