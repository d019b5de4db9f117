"""gda-signal benchmarks: diffusion1d training and sampling speed on GunPoint, per sampler and thread count.

Run with `python benchmarks/bench_signal.py` in an environment with gda-signal. Prints timings; asserts nothing.
"""

from __future__ import annotations

import time


def diffusion1d(steps: int = 50, n_samples: int = 100) -> dict[str, float]:
    """Seconds per training step (batch 32, GunPoint length 150) and per sample for DDIM-50 and DPM-Solver-20."""
    import torch

    from gda_core.context import RunContext
    from gda_signal.datasets import UCRDataset
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    splits = UCRDataset().load(RunContext(train=None, seed=0, quiet=True))
    ctx = RunContext(train=splits.train, seed=0, quiet=True)
    out = {}
    for threads in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(threads)
        gen = Diffusion1DGenerator(steps=steps)
        t0 = time.perf_counter()
        gen.fit(splits.train, ctx)
        out[f"fit, s/step ({threads} thread(s))"] = (time.perf_counter() - t0) / steps
        for sampler, n_steps in (("ddim", 50), ("dpm-solver", 20)):
            gen.params = gen.params.model_copy(update={"sampler": sampler, "num_inference_steps": n_steps})
            t0 = time.perf_counter()
            gen.generate([{"label": "1"}] * n_samples, seed=0, context=ctx)
            out[f"{sampler}-{n_steps}, s/sample ({threads} thread(s))"] = (time.perf_counter() - t0) / n_samples
    return out


if __name__ == "__main__":
    for name, secs in diffusion1d().items():
        print(f"{name:45s} {secs * 1000:8.1f} ms")
