"""Issue 12 on a UCR set: does signal.diffusion1d add information beyond the labelled few?

For each run seed (which draws the k-shot split, seeds the generators and the downstream models)
every method makes a training set, two downstream models are trained on it and scored on the
shipped test split:

- ``real``: the k labelled series per class;
- ``classical``: + signal.classical (jitter, scaling, warps, slicing...);
- ``ddpm``: + signal.diffusion1d trained from scratch on the k shots, plain sampling;
- ``ddpm-sdedit``: the same model, strength 0.5 from the real series (SDEdit / DA-Fusion);
- ``ddpm-interp``: the same model, DDIM inversion to strength 0.6 + spherical interpolation;
- ``ddpm-augment``: + signal.diffusion1d trained with non-leaking augmentation (shift, scale);
- ``self-training``: + the confidently pseudo-labelled pool, no generator (label spreading);
- ``pl-ddpm``: + signal.diffusion1d trained on labelled + pseudo-labelled pool (core.pseudo-label);
- ``pl-ddpm+pool``: + the pseudo-labelled pool and pl-ddpm's samples (what it adds beyond self-training);
- ``pt-ddpm``: + signal.diffusion1d pretrained on the pool, fine-tuned on the k shots (core.pretrain-finetune).

Downstream: MiniRocket + ridge (aeon's MiniRocketClassifier) and 1-NN (Euclidean). Near-copy share:
synthetic series closer to a series the generator trained on than ``tau`` (5% quantile of the
reference's leave-one-out distances, gda_core.near_copies), beside the held-out test series' share.

    nice -n 5 python benchmarks/novelty_signal.py --dataset ArrowHead --k 4 --seeds 0 1 2 3 4 -o runs/novelty-arrowhead

Rows go to ``rows.jsonl`` in the output folder (a rerun skips finished seed x method cells);
``summary.md`` holds mean +- std per method and paired differences with 95% t intervals.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

METHODS = ("real", "classical", "ddpm", "ddpm-sdedit", "ddpm-interp", "ddpm-augment", "self-training", "pl-ddpm",
           "pl-ddpm+pool", "pt-ddpm")
MODELS = ("minirocket", "1nn")


def load(name: str):
    from aeon.datasets import load_classification

    from gda_core.records import Dataset, Record

    out = []
    for split in ("train", "test"):
        X, y = load_classification(name, split=split)
        X = np.asarray(X, dtype=np.float32)
        recs = [Record(id=f"{split}{i:04d}", data=x, label=str(lab)) for i, (x, lab) in enumerate(zip(X, y))]
        out.append(Dataset(recs, modality="signal", classes=sorted({str(v) for v in y})))
    return out


def downstream(records, test, model: str, seed: int) -> float:
    X = np.stack([np.asarray(r.data, dtype=np.float32) for r in records])
    y = np.asarray([str(r.label) for r in records])
    Xt = np.stack([np.asarray(r.data, dtype=np.float32) for r in test.records])
    yt = np.asarray([str(r.label) for r in test.records])
    if model == "1nn":
        from sklearn.neighbors import KNeighborsClassifier

        clf = KNeighborsClassifier(1).fit(X.reshape(len(X), -1), y)
        return float(clf.score(Xt.reshape(len(Xt), -1), yt))
    from aeon.classification.convolution_based import MiniRocketClassifier

    clf = MiniRocketClassifier(random_state=seed, n_jobs=1).fit(X, y)
    return float(np.mean(clf.predict(Xt) == yt))


def _flat(records) -> np.ndarray:
    return np.stack([np.asarray(r.data, dtype=np.float64).ravel() for r in records])


def near_copies(samples, reference, test, flat=_flat) -> tuple[float, float]:
    """Near-copy share of ``samples`` and of the ``test`` records against ``reference`` (features
    from ``flat``, raw values by default); tau from the reference's leave-one-out distances."""
    from gda_core.near_copies import near_copy_threshold, nn_distances

    ref = flat(reference)
    tau = near_copy_threshold(ref, 0.05)
    share = float(np.mean(nn_distances(flat(samples), ref) < tau)) if samples else math.nan
    return share, float(np.mean(nn_distances(flat(test.records), ref) < tau))


def run_seed(args, seed: int, done: set, write) -> None:
    import torch

    from gda_core.builtin.pool import PretrainFinetuneStrategy, PseudoLabelStrategy, pseudo_label
    from gda_core.components import Strategy
    from gda_core.context import RunContext
    from gda_core.splits import hidden_labels, k_shot_with_pool, label_accuracy, without_hidden_labels
    from gda_signal.generators.classical import ClassicalAugmentation
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    torch.set_num_threads(1)
    train_all, test = load(args.dataset)
    labelled, pool = k_shot_with_pool(train_all, args.k, seed)
    assert not {r.id for r in pool.records} & {r.id for r in test.records}
    hidden, pool = hidden_labels(pool), without_hidden_labels(pool)  # the labels aside, for the report only
    ctx = RunContext(train=labelled, pool=pool, seed=seed, quiet=True)
    counts = {c: args.ratio * args.k for c in labelled.classes}
    gp = dict(steps=args.steps, batch_size=16, base_channels=16, channel_mults=[1, 2, 2], attention=False,
              lr=2e-3, num_inference_steps=args.inference_steps, device="cpu")
    pl_params = {"classifier": "label-spreading", "features": "raw", "keep": 0.8}

    def emit(method, synthetic, extra_train=(), reference=None, seconds=0.0, info=None):
        train_set = list(labelled.records) + list(extra_train) + list(synthetic)
        share, share_real = near_copies(synthetic, reference or labelled.records, test) if synthetic else (
            math.nan, math.nan)
        for model in MODELS:
            t0 = time.perf_counter()
            score = downstream(train_set, test, model, seed)
            write({"dataset": args.dataset, "seed": seed, "method": method, "model": model, "score": score,
                   "n_train": len(train_set), "n_synthetic": len(synthetic), "near_copy_share": share,
                   "near_copy_share_real": share_real, "gen_seconds": round(seconds, 1),
                   "downstream_seconds": round(time.perf_counter() - t0, 1), **(info or {})})

    def want(*methods):
        return any((seed, m) not in done for m in methods)

    plain = Strategy()
    if want("real"):
        emit("real", [])
    if want("classical"):
        t0 = time.perf_counter()
        cl = ClassicalAugmentation()
        cl.fit(labelled, ctx)
        emit("classical", cl.generate(plain.conditions(counts, labelled, ctx), seed=seed, context=ctx),
             seconds=time.perf_counter() - t0)
    if want("ddpm", "ddpm-sdedit", "ddpm-interp"):
        t0 = time.perf_counter()
        gen = Diffusion1DGenerator(**gp)
        gen.fit(labelled, ctx)
        fit_s = time.perf_counter() - t0
        conds = plain.conditions(counts, labelled, ctx)
        for method, update in (("ddpm", {}), ("ddpm-sdedit", {"strength": 0.5}),
                               ("ddpm-interp", {"strength": 0.6, "interpolate": True})):
            if (seed, method) in done:
                continue
            g = Diffusion1DGenerator(gen.params.model_copy(update=update))
            g.__dict__.update({k: v for k, v in gen.__dict__.items() if k != "params"})
            t1 = time.perf_counter()
            emit(method, g.generate(conds, seed=seed, context=ctx), seconds=fit_s + time.perf_counter() - t1)
    if want("ddpm-augment"):
        t0 = time.perf_counter()
        gen = Diffusion1DGenerator(**gp, augment=["shift", "scale"], augment_p=0.5)
        gen.fit(labelled, ctx)
        emit("ddpm-augment", gen.generate(plain.conditions(counts, labelled, ctx), seed=seed, context=ctx),
             seconds=time.perf_counter() - t0)
    if want("self-training", "pl-ddpm", "pl-ddpm+pool"):
        from gda_core.builtin.pool import PseudoLabelParams

        kept, summary = pseudo_label(labelled, pool, ctx, PseudoLabelParams(**pl_params))
        info = {"pseudo_label_accuracy": label_accuracy(kept, hidden), "pseudo_labelled": len(kept)}
        if want("self-training"):
            emit("self-training", [], extra_train=kept, info=info)
        if want("pl-ddpm", "pl-ddpm+pool"):
            t0 = time.perf_counter()
            strat = PseudoLabelStrategy.from_params(pl_params)
            gen = strat.fit(Diffusion1DGenerator(**gp), labelled, ctx)
            syn = gen.generate(strat.conditions(counts, labelled, ctx), seed=seed, context=ctx)
            secs = time.perf_counter() - t0
            ref = list(strat.fitted_on_.records)
            emit("pl-ddpm", syn, reference=ref, seconds=secs, info=info)
            emit("pl-ddpm+pool", syn, extra_train=kept, reference=ref, seconds=secs, info=info)
    if want("pt-ddpm"):
        t0 = time.perf_counter()
        strat = PretrainFinetuneStrategy.from_params({"pretrain_steps": args.steps,
                                                      "finetune_steps": max(1, args.steps // 2)})
        gen = strat.fit(Diffusion1DGenerator(**gp), labelled, ctx)
        syn = gen.generate(plain.conditions(counts, labelled, ctx), seed=seed, context=ctx)
        emit("pt-ddpm", syn, reference=list(labelled.records) + list(pool.records),
             seconds=time.perf_counter() - t0)


def summarize(rows: list[dict], out: Path, header: str) -> str:
    return summarize_rows(rows, out, header, METHODS, MODELS, "accuracy")


def summarize_rows(rows: list[dict], out: Path, header: str, methods, models, metric: str,
                   classical: str = "classical") -> str:
    """``summary.md``: per downstream model, mean +- std of ``metric`` per method, paired differences
    to ``real`` and ``classical`` over the shared seeds with 95% t intervals, near-copy shares."""
    from gda_core.bench.stats import paired as paired_interval

    lines = [header, ""]
    for model in models:
        by = {}
        for r in rows:
            if r["model"] == model:
                by.setdefault(r["method"], {})[r["seed"]] = r
        lines += [f"### downstream: {model}", "",
                  f"| method | {metric} mean ± std | vs real: diff [95% CI] | vs {classical}: diff [95% CI] | "
                  "near-copy share (synthetic / held-out real) | seeds |",
                  "| --- | --- | --- | --- | --- | --- |"]

        def paired(m, base, by=by):  # gda bench's paired t interval, over the seeds both methods have
            if m == base or base not in by or m not in by:
                return "-"
            res = paired_interval({s: r["score"] for s, r in by[m].items()},
                                  {s: r["score"] for s, r in by[base].items()})
            return "-" if res is None or res.n < 2 else res.text()

        for m in methods:
            if m not in by:
                continue
            sc = np.array([r["score"] for r in by[m].values()])
            nc = [r["near_copy_share"] for r in by[m].values() if not math.isnan(r["near_copy_share"])]
            ncr = [r["near_copy_share_real"] for r in by[m].values() if not math.isnan(r["near_copy_share_real"])]
            copies = f"{np.mean(nc):.2f} / {np.mean(ncr):.2f}" if nc else "-"
            lines.append(f"| {m} | {sc.mean():.3f} ± {sc.std(ddof=1) if len(sc) > 1 else 0:.3f} | "
                         f"{paired(m, 'real')} | {paired(m, classical)} | {copies} | {len(sc)} |")
        lines.append("")
    text = "\n".join(lines)
    (out / "summary.md").write_text(text)
    return text


def resume_rows(out: Path, last_model: str, metric: str):
    """``(rows, done, write)``: the rows of ``out/rows.jsonl`` so far, the finished (seed, method)
    cells, and a function appending (and printing) one more row."""
    out.mkdir(parents=True, exist_ok=True)
    rows_file = out / "rows.jsonl"
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    done = {(r["seed"], r["method"]) for r in rows if r["model"] == last_model}

    def write(row):
        rows.append(row)
        with rows_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"seed {row['seed']} {row['method']:<14} {row['model']:<10} {metric} {row['score']:.3f} "
              f"copies {row['near_copy_share']:.2f}/{row['near_copy_share_real']:.2f}", flush=True)

    return rows, done, write


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ArrowHead")
    ap.add_argument("--k", type=int, default=4, help="labelled series per class")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=800, help="diffusion training steps")
    ap.add_argument("--inference-steps", type=int, default=20)
    ap.add_argument("--ratio", type=int, default=5, help="synthetic series per real one")
    ap.add_argument("-o", "--output", default="runs/novelty-signal")
    args = ap.parse_args()
    out = Path(args.output)
    rows, done, write = resume_rows(out, MODELS[-1], "acc")
    for seed in args.seeds:
        run_seed(args, seed, done, write)
        summarize(rows, out, f"{args.dataset}, k={args.k}, seeds {sorted({r['seed'] for r in rows})}, "
                  f"steps {args.steps}, ratio {args.ratio}")
    print(summarize(rows, out, f"{args.dataset}, k={args.k}, steps {args.steps}, ratio {args.ratio}"))


if __name__ == "__main__":
    main()
