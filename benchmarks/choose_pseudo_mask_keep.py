"""How the phantoms suite's ``medical.pseudo-mask`` ``keep`` was chosen (bench_suites.PSEUDO_MASK).

On run seeds outside the bench (100, 101): 12 phantoms from each seed's training stream, the first 4
labelled and the other 8 a validation split, 16 pool phantoms without masks; the test split is never
drawn. The pool is segmented once by the suite's strong UNet trained on the 4 labelled pairs; for each
``keep`` that UNet is retrained on labelled + the most confident share and scored by Dice on the
validation phantoms. One JSON line per seed.

    GDA_TORCH_THREADS=1 python benchmarks/choose_pseudo_mask_keep.py --seeds 100 101 --keep 0.25 0.5 0.75 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gda_core.context import RunContext
from gda_core.records import Dataset
from gda_medical.applications.segmentation import SegmentationApplication
from gda_medical.bench_suites import SEG
from gda_medical.datasets import PhantomsDataset
from gda_medical.strategies.pseudo_masks import PseudoMaskParams, pseudo_masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    ap.add_argument("--keep", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    args = ap.parse_args()
    for seed in args.seeds:
        loader = PhantomsDataset(size=16, n_train=12, n_test=1, num_objs=6, noise_max=0.3, n_pool=16)
        splits = loader.load(RunContext(train=Dataset([]), seed=seed, quiet=True))
        train = splits.train.with_records(splits.train.records[:4])
        val = splits.train.with_records(splits.train.records[4:])
        fit = RunContext(train=train, pool=splits.pool, seed=seed, quiet=True).fitting("choose keep")
        t0 = time.time()
        everything, _ = pseudo_masks(train, splits.pool, fit, PseudoMaskParams(segmenter=SEG, keep=1.0))
        conf = np.array([r.meta["pseudo_label"]["confidence"] for r in everything])
        app = SegmentationApplication(**SEG)
        ctx = RunContext(train=train, test=val, seed=seed, quiet=True)
        res: dict[str, float] = {"seed": seed, "real": app.evaluate(train, val, seed=seed, context=ctx)["dice"]}
        for keep in args.keep:
            top = sorted(np.argsort(-conf, kind="stable")[:int(round(keep * len(conf)))])
            kept = [everything[i] for i in top]
            res[f"keep {keep:g}"] = app.evaluate(train.with_records(list(train.records) + kept), val, seed=seed,
                                                 context=ctx)["dice"]
        res["wall_s"] = time.time() - t0
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
