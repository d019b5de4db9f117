"""Peak CPU memory (and time) of gda-medical's components on one 64^3 volume.

Each case runs in a fresh subprocess and reports ``ru_maxrss`` (peak resident memory)
after the case, minus the peak after importing torch and MONAI, so the numbers are what
the component itself adds. Usage::

    python benchmarks/bench_medical.py            # every case, a Markdown table
    python benchmarks/bench_medical.py --size 32  # another volume size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CASES = ["ddpm3d-train-step", "ddpm3d-sample", "mask2image-sample", "ldm3d-sample", "segmentation-sliding-window"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_case(name: str, size: int) -> dict:
    import monai  # noqa: F401
    import numpy as np
    import torch

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record
    from gda_medical.datasets import make_phantom

    img, lab = make_phantom(size, 0, num_objs=6)
    rec = Record(id="v0", data=img, label="phantom", target=lab, meta={"affine": np.eye(4).tolist()})
    ds = Dataset([rec, Record(id="v1", data=img[:, ::-1].copy(), label="phantom", target=lab[:, ::-1].copy())],
                 modality="volume")
    ctx = RunContext(train=ds, test=ds, seed=0, quiet=True)
    small_img, small_lab = make_phantom(16, 1, num_objs=3)
    small = Dataset([Record(id=f"s{i}", data=small_img, label="phantom", target=small_lab) for i in range(2)],
                    modality="volume")
    small_ctx = RunContext(train=small, test=small, seed=0, quiet=True)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    base = _peak_mb()
    t0 = time.perf_counter()
    if name == "ddpm3d-train-step":
        from gda_medical.generators.ddpm3d import DDPM3DGenerator

        gen = DDPM3DGenerator(steps=1, batch_size=1)
        gen.fit(ds, ctx)
    elif name in ("ddpm3d-sample", "mask2image-sample"):
        from gda_medical.generators.ddpm3d import DDPM3DGenerator
        from gda_medical.generators.mask2image import Mask2ImageGenerator

        cls = DDPM3DGenerator if name.startswith("ddpm3d") else Mask2ImageGenerator
        gen = cls(steps=1, batch_size=1, inference_steps=2, sample_batch_size=1)
        gen.fit(small, small_ctx)  # the networks are fully convolutional: fit small, sample at full size
        gen.info["shape"] = list(img.shape)
        base = _peak_mb()
        t0 = time.perf_counter()
        gen.generate([{"label": "phantom", "source_id": "v0"}], seed=0, context=ctx)
    elif name == "ldm3d-sample":
        from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

        gen = LatentDiffusion3DGenerator(ae_steps=1, steps=1, batch_size=1, inference_steps=2, sample_batch_size=1)
        gen.fit(small, small_ctx)
        gen.info["shape"] = list(img.shape)
        gen.info["latent_shape"] = [gen.params.latent_channels, *(v // 2 for v in img.shape[1:])]
        base = _peak_mb()
        t0 = time.perf_counter()
        gen.generate([{"label": "phantom"}], seed=0, context=ctx)
    elif name == "segmentation-sliding-window":
        from gda_medical.applications.segmentation import SegmentationApplication

        patch = [min(32, size)] * 3
        app = SegmentationApplication(steps=1, batch_size=1, patch_size=patch, sw_batch_size=1)
        app.evaluate(ds, ds, seed=0, context=ctx)
    else:
        raise SystemExit(f"unknown case {name}")
    return {"case": name, "size": size, "peak_mb": round(_peak_mb(), 1), "base_mb": round(base, 1),
            "added_mb": round(_peak_mb() - base, 1), "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--one", choices=CASES)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.size)))
        return
    print(f"| case ({args.size}^3, CPU float32) | peak RSS (MB) | after imports (MB) | added (MB) | seconds |")
    print("|---|---|---|---|---|")
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--one", case, "--size", str(args.size)],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"| {case} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {case} | {r['peak_mb']} | {r['base_mb']} | {r['added_mb']} | {r['seconds']} |")


if __name__ == "__main__":
    main()
