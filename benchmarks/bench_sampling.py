"""Sampling through GDA against a plain library loop, same model, scheduler, noise and batch.

Two cases, each reported as a time ratio GDA / plain (aim: 1.03 or less):

- diffusers: ``vision.ddpm`` (UNet2DModel, DPM-Solver++, classifier-free guidance) against the
  textbook diffusers loop; measured by ``bench_vision.py --json`` (run as a subprocess).
- MONAI: ``medical.ddpm3d`` (DiffusionModelUNet, DDIM) against MONAI's own
  ``DiffusionInferer.sample`` with the same network, scheduler and initial noise.

    python benchmarks/bench_sampling.py [--repeats 3] [--device cuda] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def diffusers_case(repeats: int, device: str = "cpu") -> dict:
    """``bench_vision.py``'s measurement: vision.ddpm against a plain diffusers loop."""
    out = subprocess.run([sys.executable, str(HERE / "bench_vision.py"), "--json", "--n", "256",
                          "--repeats", str(repeats), "--device", device], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"bench_vision.py failed: {out.stderr.strip().splitlines()[-1:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"case": "vision.ddpm vs diffusers loop", "samples": r["samples"], "steps": r["steps"],
            "gda_s": r["gda_s"], "plain_s": r["plain_s"], "ratio": round(r["gda_s"] / r["plain_s"], 3),
            "max_abs_diff": r["max_abs_diff"]}


def monai_case(repeats: int, device: str = "cpu", size: int = 16, n: int = 8, steps: int = 20) -> dict:
    """medical.ddpm3d's ``generate`` against ``DiffusionInferer.sample`` (DDIM, same noise)."""
    import numpy as np
    import torch
    from monai.inferers import DiffusionInferer

    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_core.torch.accelerators import torch_generator
    from gda_medical.datasets import PhantomsDataset
    from gda_medical.generators.ddpm3d import DDPM3DGenerator
    from gda_medical.generators.diffusion_base import make_scheduler

    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    train = PhantomsDataset(size=size, n_train=4, n_test=2).load(ctx).train
    ctx.train = train
    gen = DDPM3DGenerator(channels=[8, 8, 8], steps=5, batch_size=2, scheduler="ddim", inference_steps=steps,
                          sample_batch_size=n, with_label=False, device=device)
    gen.fit(train, ctx)
    conditions = [{"label": train.classes[0]} for _ in range(n)]
    seed = 7
    shape = (n, *gen.info["shape"])

    def run_gda():
        return np.stack([r.data for r in gen.generate(conditions, seed=seed, context=ctx)])

    def run_plain():
        sched = make_scheduler(gen.params)
        sched.set_timesteps(steps)
        noise = torch.randn(shape, generator=torch_generator(seed * 1_000_003)).to(device)
        with torch.no_grad():
            x = DiffusionInferer(sched).sample(input_noise=noise, diffusion_model=gen.unet.eval(),
                                               scheduler=sched, verbose=False)
        return ((x.clamp(-1, 1) + 1) / 2).cpu().numpy()

    run_gda(), run_plain()  # warm-up
    times: dict[str, list[float]] = {"gda": [], "plain": []}
    outs = {}
    for _ in range(repeats):
        for name, fn in (("gda", run_gda), ("plain", run_plain)):
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"case": "medical.ddpm3d vs MONAI DiffusionInferer", "samples": n, "steps": steps,
            "gda_s": round(med["gda"], 3), "plain_s": round(med["plain"], 3),
            "ratio": round(med["gda"] / med["plain"], 3),
            "max_abs_diff": float(np.abs(outs["gda"].reshape(n, -1) - outs["plain"].reshape(n, -1)).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timings per side; the median is reported")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where both sides run")
    ap.add_argument("--json", action="store_true", help="one JSON line per case")
    args = ap.parse_args()
    rows = []
    for case in (diffusers_case, monai_case):
        try:
            rows.append(case(args.repeats, args.device))
        except (ImportError, RuntimeError) as exc:  # a plugin not installed
            rows.append({"case": case.__name__, "error": f"{type(exc).__name__}: {exc}"})
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    print("| case | samples | steps | GDA s | plain s | ratio (aim <= 1.03) | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | not run: {r['error']} | | | | | |")
        else:
            print(f"| {r['case']} | {r['samples']} | {r['steps']} | {r['gda_s']} | {r['plain_s']} | "
                  f"{r['ratio']} | {r['max_abs_diff']:.2e} |")


if __name__ == "__main__":
    main()
