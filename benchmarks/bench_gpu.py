"""The digits demo's generator on a GPU against the CPU, then GDA's sampling against plain loops
on the GPU (issue 24; run on a machine with CUDA: ``python benchmarks/bench_gpu.py``).

1. ``vision.ddpm`` with ``examples/digits.yaml``'s settings (``--train-steps`` shortens its
   1,500 steps) fitted on the demo's 5-shot digits + pseudo-labelled pool, then 100 samples per
   class drawn: fit and sample seconds per device (``--devices cuda,cpu``), and samples/s.
2. ``benchmarks/bench_sampling.py --device cuda``: GDA's sampling against the textbook diffusers
   loop and MONAI's ``DiffusionInferer`` with the same model, scheduler, noise and batch (ratio;
   aim <= 1.03, as on the CPU).

``--devices cpu --train-steps 5`` runs the whole script on a CPU (to check it before a GPU run).
Prints a Markdown table (docs/scale.md's format) with torch, CUDA and device names.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "examples" / "digits.yaml"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def demo_generator(device: str, train_steps: int, per_class: int) -> dict:
    """Fit and sample the demo's vision.ddpm on ``device``; seconds for each."""
    import gda_core
    from gda_core.config import resolve
    from gda_core.context import RunContext
    from gda_core.host import host

    cfg = yaml.safe_load(DEMO.read_text())
    cfg = copy.deepcopy(cfg)
    params = dict(cfg["generator"]["params"], train_steps=train_steps, device=device, precision="float32")
    resolved = resolve(cfg)
    ctx = RunContext(train=gda_core.records.Dataset([]), seed=0, quiet=True)
    splits = resolved.dataset.load(ctx)
    fctx = RunContext(train=splits.train, pool=splits.pool, seed=0, quiet=True).fitting("bench_gpu")
    gen = host.create("generators", "vision.ddpm", params)
    _sync(device)
    t0 = time.perf_counter()
    gen = resolved.strategy.fit(gen, splits.train, fctx)  # the demo's core.pseudo-label, then the DDPM fit
    _sync(device)
    fit_s = time.perf_counter() - t0
    pseudo = resolved.strategy.pseudo_labelled(splits.train, fctx) or []
    train = [*splits.train.records, *pseudo]
    conds = [{"label": c} for c in splits.train.classes for _ in range(per_class)]
    t0 = time.perf_counter()
    out = gen.generate(conds, seed=1, context=fctx)
    _sync(device)
    sample_s = time.perf_counter() - t0
    return {"device": device, "train_records": len(train), "train_steps": train_steps, "fit_s": round(fit_s, 2),
            "samples": len(out), "sample_s": round(sample_s, 2), "samples_per_s": round(len(out) / sample_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cuda,cpu", help="comma-separated devices (default cuda,cpu)")
    ap.add_argument("--train-steps", type=int, default=300, help="the demo's fit, shortened (it has 1500)")
    ap.add_argument("--per-class", type=int, default=100, help="samples per class (the demo's 100)")
    ap.add_argument("--sampling-device", default=None, help="device for bench_sampling.py (default: the first)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU {name}")
    print("\n| device | training records | fit steps | fit s | samples | sample s | samples/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for d in devices:
        r = demo_generator(d, args.train_steps, args.per_class)
        print(f"| {r['device']} | {r['train_records']} | {r['train_steps']} | {r['fit_s']} | {r['samples']} | "
              f"{r['sample_s']} | {r['samples_per_s']} |", flush=True)
    dev = args.sampling_device or devices[0]
    print(f"\nGDA sampling against plain loops on {dev} (bench_sampling.py):\n", flush=True)
    done = subprocess.run([sys.executable, str(HERE / "bench_sampling.py"), "--device", dev,
                           "--repeats", str(args.repeats)], capture_output=True, text=True)
    print(done.stdout.strip() or done.stderr.strip()[-2000:])
    if done.returncode:
        print(json.dumps({"bench_sampling_rc": done.returncode}))
        sys.exit(done.returncode)


if __name__ == "__main__":
    main()
