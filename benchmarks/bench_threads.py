"""How torch's CPU thread count changes a small vision.ddpm fit, with and without other work beside it.

Each timing is a fresh process (a thread count is fixed once per process) that fits
vision.ddpm on 5-shot digits for ``--train-steps`` steps. Settings:

- ``default``: torch's own thread count (one per core), GDA told to leave it (``GDA_TORCH_THREADS=0``);
- ``1``: one thread (``GDA_TORCH_THREADS=1``);
- ``gda``: GDA's own choice (``GDA_TORCH_THREADS`` unset: :func:`gda_core.torch.accelerators.torch_threads`).

``--busy N`` runs N busy processes (pure-Python loops, one core each) beside every timing, as
other jobs on a shared machine would. The load average is printed with each row: on a shared
machine "idle" means only that this script adds no load of its own.

    python benchmarks/bench_threads.py [--train-steps 30] [--repeats 3] [--busy 0 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {"default": "0", "1": "1", "gda": None}


def fit_once(train_steps: int) -> None:
    """Fit a small vision.ddpm and print one JSON line: threads used and seconds of the fit."""
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_core.torch import accelerators
    from gda_vision.datasets import DigitsDataset
    from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    ctx.train = DigitsDataset(k_shot=5).load(ctx).train
    gen = ClassConditionalDDPMGenerator(train_steps=train_steps, device="cpu")
    accelerators.apply_thread_setting()
    import torch

    t0 = time.perf_counter()
    gen.fit(ctx.train, ctx)
    print(json.dumps({"threads": torch.get_num_threads(), "seconds": time.perf_counter() - t0}))


def _spin() -> None:
    while True:
        pass


def timed(setting: str, train_steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "GDA_TORCH_THREADS")}
    if SETTINGS[setting] is not None:
        env["GDA_TORCH_THREADS"] = SETTINGS[setting]
    done = subprocess.run([sys.executable, __file__, "--child", "--train-steps", str(train_steps)],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"the {setting!r} fit failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=30, help="training steps per fit (default 30)")
    ap.add_argument("--repeats", type=int, default=3, help="fits per setting; the median is reported")
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 2], help="busy processes beside the fit")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fit_once(args.train_steps)
        return

    print(f"cores: {os.cpu_count()}; vision.ddpm fit of {args.train_steps} steps on 5-shot digits, "
          f"median of {args.repeats}")
    print(f"{'busy':>4}  {'setting':>8}  {'threads':>7}  {'fit s':>7}  {'min':>7}  {'max':>7}  {'load avg':>8}")
    for busy in args.busy:
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for setting in args.settings:
                runs = [timed(setting, args.train_steps) for _ in range(args.repeats)]
                secs = [r["seconds"] for r in runs]
                print(f"{busy:>4}  {setting:>8}  {runs[0]['threads']:>7}  {statistics.median(secs):>7.2f}  "
                      f"{min(secs):>7.2f}  {max(secs):>7.2f}  {os.getloadavg()[0]:>8.1f}", flush=True)
        finally:
            for p in spinners:
                p.terminate()
                p.join()


if __name__ == "__main__":
    main()
