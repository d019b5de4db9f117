"""Generation throughput: the local executor against 1 and 2 local Ray workers, as ratios.

Run with `nox -s bench` or `python benchmarks/bench_ray.py [--per-class 12] [--steps 20]`.
A tiny class-conditional DDPM (vision.ddpm, 5-shot digits) is fitted once by a local run; then
every shard of its synthetic set is generated again with each executor (the shard files are
rewritten with the same content), torch at one thread per worker (GDA_TORCH_THREADS=1). Ray is
started before the clock. "start" is the time for the actors to start (each loads torch, the data
and the model once); throughput is measured after it, and the ratios are given with and without it.
The local executor runs before and after the Ray ones (their mean is the base of the ratios).
Checks every shard is identical to the local run's. Prints samples/s and the ratios; asserts
nothing (skips when Ray or gda-vision is missing). Figures: docs/scale.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=30, help="samples per class (10 classes)")
    ap.add_argument("--shard-size", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20, help="denoising steps per sample")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = ap.parse_args()
    try:
        import ray

        import gda_vision  # noqa: F401
    except ImportError as exc:
        print(f"bench_ray: skipped ({exc.name} is not installed: pip install 'gda-core[ray]' gda-vision)")
        return
    os.environ.setdefault("GDA_TORCH_THREADS", "1")
    os.environ["GDA_LOAD_PLUGINS"] = "gda-vision"
    from gda_core import pipeline, runfolder
    from gda_core.executors import ExecutorRef, ShardTask, open_executor

    cfg = {
        "seed": 0,
        "dataset": {"name": "vision.digits", "params": {"k_shot": 5}},
        "generator": {"name": "vision.ddpm", "params": {
            "block_out_channels": [16, 32], "train_steps": 30, "batch_size": 16, "num_inference_steps": args.steps,
            "scheduler": "ddim", "device": "cpu"}},
        "generate": {"per_class": args.per_class, "shard_size": args.shard_size},
        "validators": [{"name": "core.memorization", "params": {"spaces": ["raw"]}}],
    }
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-")) / "run"
    print(f"# load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})", flush=True)
    pipeline.run(cfg, folder, quiet=True)  # fits and saves the model
    pipe = pipeline.open_run(folder, quiet=True)
    pipe.fit_or_load()  # loads it
    ctx = pipe._ctx()
    counts = pipeline.class_counts_to_generate(pipe.resolved, ctx.train)
    shards = pipe._plan(pipe.resolved.strategy.conditions(counts, ctx.train, ctx))
    task = ShardTask(pipe, pipeline.SYNTHETIC_SET, 0, pipe.resolved.generator, shards, pipe.resolved.strategy)
    reference = {i: [r.data.tobytes() for r in recs] for i, recs in enumerate(
        runfolder.load_shard(runfolder.shard_path(folder, pipeline.SYNTHETIC_SET, i)) for i in range(len(shards)))}
    # Ray runs its workers at niceness +15 by default: on a busy machine they would get a fraction
    # of the CPU the local executor gets. Same priority for both here.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    same = True
    try:
        for label, workers in [("local", 0), ("ray, 1 worker", 1), ("ray, 2 workers", 2), ("local again", 0)]:
            ref = ExecutorRef(name="ray", params={"num_workers": workers}) if workers else ExecutorRef()
            with open_executor(ref) as executor:
                t0 = time.perf_counter()
                if workers:
                    executor._workers(task)  # start the actors: each loads torch, the data and the model
                t1 = time.perf_counter()
                done = dict(executor.run_shards(task, range(len(shards))))
                t2 = time.perf_counter()
            same &= all([r.data.tobytes() for r in done[i]] == reference[i] for i in done)
            n = sum(len(v) for v in done.values())
            rows.append((label, t1 - t0 if workers else 0, t2 - t1, n))
            print(f"{label:<16}{n:>6} samples  start {t1 - t0:7.1f} s  generate {t2 - t1:7.1f} s  "
                  f"{n / (t2 - t1):7.2f} samples/s", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(folder.parent, ignore_errors=True)
    local = [r for r in rows if r[1] == 0 and not r[0].startswith("ray")]
    base = sum(n / g for _, _, g, n in local) / len(local)  # the two local runs bracket the Ray ones
    rows = [r for r in rows if r[0].startswith("ray")]
    print("# throughput ratio to the local executor (actors started): "
          + ", ".join(f"{label} x{n / g / base:.2f}" for label, _, g, n in rows))
    print("# with actor start-up: " + ", ".join(f"{label} x{n / (s + g) / base:.2f}" for label, s, g, n in rows))
    print(f"# every shard identical to the local run's: {same}")
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
