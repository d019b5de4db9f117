"""DDPM with 1000 steps against DDIM and DPM-Solver++ at 10-50 steps: time and downstream score.

One class-conditional DDPM (``vision.ddpm``) is trained on 5-shot digits; the same weights are then
sampled with each scheduler (DDPM through the plain diffusers loop of ``bench_vision.py``, the others
through ``vision.ddpm``), and logistic regression and an RBF SVM are trained on real + each synthetic
set and scored on the held-out digits. Every row uses the same noise seed.

    python benchmarks/bench_schedulers.py [--train-steps 800] [--per-class 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=800, help="DDPM training steps")
    ap.add_argument("--per-class", type=int, default=20, help="synthetic images per class")
    ap.add_argument("--steps", default="10,25,50", help="DDIM and DPM-Solver++ step counts")
    ap.add_argument("--seed", type=int, default=0, help="run seed (split, k shots, training, noise)")
    ap.add_argument("--json", action="store_true", help="one JSON line per row")
    args = ap.parse_args()

    import numpy as np
    import torch
    from diffusers import DDPMScheduler

    sys.path.insert(0, str(HERE))
    from bench_vision import plain_diffusers_loop

    from gda_core.bench.fidelity import copy_threshold, near_copy_share
    from gda_core.builtin.applications.classification import make_classifier
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_core.torch.accelerators import torch_generator
    from gda_vision.datasets import DigitsDataset
    from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

    ctx = RunContext(train=Dataset([]), seed=args.seed, quiet=True)
    splits = DigitsDataset(k_shot=5).load(ctx)
    train, test = splits.train, splits.test
    ctx.train, ctx.test = train, test
    gen = ClassConditionalDDPMGenerator(train_steps=args.train_steps, guidance_scale=2.0, sample_batch_size=512)
    t0 = time.perf_counter()
    gen.fit(train, ctx)
    fit_s = time.perf_counter() - t0
    conditions = [{"label": c} for c in train.classes for _ in range(args.per_class)]
    labels = np.asarray([str(c["label"]) for c in conditions])

    def flat(x):
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1)

    X, y = flat([r.data for r in train.records]), np.asarray([str(v) for v in train.labels()])
    Xt, yt = flat([r.data for r in test.records]), np.asarray([str(v) for v in test.labels()])
    tau = copy_threshold(X)

    def scores(extra_x, extra_y) -> dict:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        out = {}
        for model in ("logreg", "svm"):
            clf = make_pipeline(StandardScaler(), make_classifier(model, args.seed))
            clf.fit(np.concatenate([X, extra_x]) if len(extra_x) else X,
                    np.concatenate([y, extra_y]) if len(extra_y) else y)
            out[model] = float((clf.predict(Xt) == yt).mean())
        return out

    rows = [{"sampler": "real only", "steps": 0, "seconds": 0.0, **scores(np.zeros((0, X.shape[1])), [])}]

    def ddpm_1000():
        c, _, _ = gen.shape_
        s = gen.sample_size_
        noise = torch.randn((len(conditions), c, s, s), generator=torch_generator(1234))
        idx = torch.tensor([gen.class_index(cond["label"]) for cond in conditions])
        sched = DDPMScheduler.from_config(gen.scheduler_.config)
        return plain_diffusers_loop(gen.unet_, sched, idx, len(gen.classes_), noise, gen.params.guidance_scale,
                                    gen.scheduler_.config.num_train_timesteps, gen.device_)

    cases = [("ddpm", gen.scheduler_.config.num_train_timesteps, ddpm_1000)]
    for kind in ("ddim", "dpm-solver++"):
        for n in (int(v) for v in args.steps.split(",")):
            def sample(kind=kind, n=n):
                gen.params = gen.params.model_copy(update={"scheduler": kind, "num_inference_steps": n})
                return np.stack([r.data for r in gen.generate(conditions, seed=1234, context=ctx)])
            cases.append((kind, n, sample))
    for kind, n, fn in cases:
        t0 = time.perf_counter()
        images = fn()
        secs = time.perf_counter() - t0
        fake = flat(images)
        rows.append({"sampler": kind, "steps": n, "seconds": round(secs, 2),
                     "images_per_s": round(len(fake) / secs, 1), "near_copy_share": near_copy_share(fake, X, tau),
                     **scores(fake, labels)})
    if args.json:
        for r in rows:
            print(json.dumps({**r, "fit_s": round(fit_s, 1), "train_steps": args.train_steps}))
        return
    print(f"vision.ddpm, 5-shot digits, {args.train_steps} training steps ({fit_s:.0f} s), "
          f"{len(conditions)} images per sampler, guidance 2, seed {args.seed}, "
          f"{torch.get_num_threads()} torch thread(s)")
    print("| sampler | steps | seconds | images/s | near-copy share | logreg acc | RBF SVM acc |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['sampler']} | {r['steps']} | {r['seconds']} | {r.get('images_per_s', '-')} | "
              f"{r.get('near_copy_share', float('nan')):.2f} | {r['logreg']:.3f} | {r['svm']:.3f} |")


if __name__ == "__main__":
    main()
