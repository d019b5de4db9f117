"""Sampling speed of vision.ddpm through gda against a plain diffusers loop.

Both sides use the same UNet2DModel (trained briefly on 5-shot digits), the same
scheduler (DPM-Solver++ or DDIM), the same classifier-free guidance batching and
the same initial noise, so the gap is gda's own overhead (conditions -> class
indices, batching, resizing back, Record objects). The samples are compared too.

    python benchmarks/bench_vision.py [--n 500] [--steps 25] [--repeats 3] [--scheduler dpm-solver++]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def plain_diffusers_loop(unet, scheduler, labels, null, noise, guidance, steps, device):
    """The textbook diffusers sampling loop with classifier-free guidance."""
    import torch

    x = noise.to(device) * scheduler.init_noise_sigma
    labels = labels.to(device)
    scheduler.set_timesteps(steps, device=device)
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(x, t)
            out = unet(torch.cat([inp, inp]), t, class_labels=torch.cat([labels, torch.full_like(labels, null)])).sample
            cond, unc = out.chunk(2)
            x = scheduler.step(unc + guidance * (cond - unc), t, x).prev_sample
    return ((x.clamp(-1, 1) + 1) / 2).cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="samples per timing (default 500)")
    ap.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per side; the median is reported")
    ap.add_argument("--train-steps", type=int, default=50, help="brief training so the UNet is not random")
    ap.add_argument("--scheduler", default="dpm-solver++", choices=["dpm-solver++", "ddim"])
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = ap.parse_args()

    import numpy as np
    import torch

    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_vision.datasets import DigitsDataset
    from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    train = DigitsDataset(k_shot=5).load(ctx).train
    ctx.train = train
    gen = ClassConditionalDDPMGenerator(train_steps=args.train_steps, num_inference_steps=args.steps,
                                        scheduler=args.scheduler, guidance_scale=2.0, sample_batch_size=args.n,
                                        device=args.device)
    gen.fit(train, ctx)
    conditions = [{"label": c} for c in train.classes for _ in range(args.n // len(train.classes))]
    n = len(conditions)
    seed = 1234

    def run_gda():
        return np.stack([r.data for r in gen.generate(conditions, seed=seed, context=ctx)])

    def run_plain():
        from gda_core.torch.accelerators import torch_generator

        c, _, _ = gen.shape_
        s = gen.sample_size_
        noise = torch.randn((n, c, s, s), generator=torch_generator(seed))
        labels = torch.tensor([gen.class_index(cond["label"]) for cond in conditions])
        return plain_diffusers_loop(gen.unet_, gen.sampling_scheduler(), labels, len(gen.classes_), noise,
                                    gen.params.guidance_scale, args.steps, gen.device_)

    run_gda(), run_plain()  # warm-up
    times = {"gda": [], "plain diffusers": []}
    for _ in range(args.repeats):
        for name, fn in (("gda", run_gda), ("plain diffusers", run_plain)):
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            if name == "gda":
                a = out
            else:
                b = out
    med = {k: statistics.median(v) for k, v in times.items()}
    gap = med["gda"] / med["plain diffusers"] - 1.0
    result = {"samples": n, "steps": args.steps, "scheduler": args.scheduler, "device": str(gen.device_),
              "torch_threads": torch.get_num_threads(),
              "gda_s": round(med["gda"], 3), "plain_s": round(med["plain diffusers"], 3),
              "gap_percent": round(100 * gap, 1), "max_abs_diff": float(np.abs(a - b).max()),
              "samples_per_s_gda": round(n / med["gda"], 1)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"vision.ddpm sampling: {n} images 8x8, {args.steps} {args.scheduler} steps, CFG, "
          f"device {result['device']}, {result['torch_threads']} torch threads, median of {args.repeats}")
    print(f"  gda (generator.generate)   {med['gda']:.3f} s  ({result['samples_per_s_gda']} images/s)")
    print(f"  plain diffusers loop       {med['plain diffusers']:.3f} s")
    print(f"  gap: {100 * gap:+.1f}%   max |difference| between the two sets of samples: {result['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
