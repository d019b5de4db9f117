"""Generation throughput: the local executor against 1 and 2 local Ray workers, as ratios.

Run with `nox -s bench` or `python benchmarks/bench_ray.py [--per-class 12] [--steps 20]`.
A tiny class-conditional DDPM (vision.ddpm, 5-shot digits) is fitted once; then the synthetic
set's shards are deleted and generated again with each executor, in the same process, torch at
one thread per worker (GDA_TORCH_THREADS=1). Ray is started before the clock; the Ray times
include starting the actors (each loads the model once). Prints samples/s and the ratios;
asserts nothing (skips when Ray or gda-vision is missing). Figures: docs/scale.md.
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
    ap.add_argument("--per-class", type=int, default=12, help="samples per class (10 classes)")
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
    from gda_core.executors import ExecutorRef

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
    pipeline.run(cfg, folder, quiet=True)
    n = 10 * args.per_class
    reference = (folder / "manifest.jsonl").read_bytes()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for label, ref in [("local", ExecutorRef()),
                           ("ray, 1 worker", ExecutorRef(name="ray", params={"num_workers": 1})),
                           ("ray, 2 workers", ExecutorRef(name="ray", params={"num_workers": 2}))]:
            shutil.rmtree(folder / "shards" / "synthetic")
            pipe = pipeline.open_run(folder, quiet=True)
            pipe.config.executor = ref
            pipe.fit()
            t0 = time.perf_counter()
            pipe.generate()
            seconds = time.perf_counter() - t0
            assert len(runfolder.finished_shards(folder, "synthetic")) == -(-n // args.shard_size)
            rows.append((label, seconds))
            print(f"{label:<16}{n:>6} samples {seconds:8.1f} s {n / seconds:8.2f} samples/s", flush=True)
        pipe.select()  # rewrites the manifest from the last (2-worker) shards
        same = (folder / "manifest.jsonl").read_bytes() == reference
    finally:
        ray.shutdown()
        shutil.rmtree(folder.parent, ignore_errors=True)
    base = rows[0][1]
    print("# throughput ratio to the local executor: " + ", ".join(f"{label} x{base / s:.2f}" for label, s in rows[1:]))
    print(f"# manifest after Ray identical to the local one: {same}")
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
