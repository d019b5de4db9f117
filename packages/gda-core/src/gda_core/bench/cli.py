"""The ``gda bench`` command (attached to the ``gda`` group in ``gda_core.cli``)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import RunFolderError
from ..library_noise import VERBOSE_HELP, silence_libraries

if TYPE_CHECKING:
    from .runner import BenchRun


def code_versions() -> dict[str, str]:
    """What code writes the report: the git commit in a clone, and always the installed version
    of every plugin's distribution (``gda-core 0.1.0, gda-vision 0.1.0, ...``)."""
    from .code import commit, distribution_versions

    out = {}
    here = commit()
    if here:
        out["commit"] = here
    out["packages"] = distribution_versions()
    return out


def cells_code(run: BenchRun) -> dict[str, str]:
    """The header's lines on the code that computed the cells (not the report's): their commits
    and versions, and how many code keys (one per set of packages a cell names)."""
    codes = list(run.codes.values())
    if not codes:
        return {}
    commits = sorted({c.commit or "not from a clone" for c in codes})
    versions = sorted({c.versions for c in codes})
    out = {"cells computed at commit": ", ".join(commits), "cells' versions": " | ".join(versions),
           "cells' code keys": f"{len(codes)} ({', '.join(sorted(c.key for c in codes))}; one per set of gda "
                               "packages a cell's config names, results.csv column `code`)"}
    return out


def _machine() -> str:
    from .runner import machine_memory_gb

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{machine_memory_gb():.0f} GiB RAM, Python {platform.python_version()}")


BENCH_MARKER = "gda_bench.json"
"""The bench folder's marker: a folder holding it is gda's bench folder (resumed when rerun)."""
_OLD_BENCH = re.compile(r"results\.(csv|md)|[A-Za-z0-9_.-]+\.png|cells|runs")


@contextlib.contextmanager
def claimed(out: Path) -> Iterator[None]:
    """Hold the bench folder ``out``: new or empty (it gets the marker), or gda's bench folder (its
    marker, or the layout of a bench written before markers, adopted). Anything else, a gda run
    folder included, is refused in one line; inside, gda writes and replaces only what it wrote
    (:mod:`gda_core.written`)."""
    from .. import __version__, runfolder, written

    def refuse(why: str) -> None:
        raise RunFolderError(f"bench folder {out} {why}; choose a new or empty folder for -o")

    marker = out / BENCH_MARKER

    def check() -> list[Path]:
        """The folder's entries besides gda's own names; refuses a folder that is not a bench's."""
        if os.path.lexists(out) and not out.is_dir():
            refuse("exists and is not a folder")
        entries = [p for p in out.iterdir() if p.name not in written.TOP_LEVEL] if out.is_dir() else []
        if (out / runfolder.MARKER).exists():
            refuse(f"holds a gda run ({runfolder.MARKER}), not a bench")
        if marker.exists():
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
                ok = isinstance(info, dict) and info.get("kind") == "gda bench"
            except (OSError, ValueError, RecursionError):
                ok = False
            if not ok:
                refuse(f"holds a {BENCH_MARKER} that is not gda's")
        elif entries and (not (out / "cells").is_dir() or not all(_OLD_BENCH.fullmatch(p.name) for p in entries)):
            refuse(f"is not empty and holds no gda bench (no {BENCH_MARKER})")
        return entries

    check()  # before the folder is touched
    with runfolder.locked(out):
        entries = check()  # again, under the lock
        if not marker.exists() and entries:  # a bench written before markers: its files are gda's
            listed = written.Written(out)
            written.adopt(listed, ["results.csv", "results.md", *(p.name for p in entries if p.suffix == ".png")],
                          ["cells"], {})
        if not marker.exists():
            runfolder.write_json(marker, {"kind": "gda bench", "gda_version": __version__})
        written.remove_stale_temporaries(runfolder.written_list(out))
        yield


@click.command(name="bench")
@click.argument("suite_names", metavar="[SUITE]...", nargs=-1)
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="run seeds 0..N-1 (default: the suite's, 5; 2 with --quick)")
@click.option("--quick", is_flag=True, help="small settings of every suite (minutes, not hours)")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="bench folder (default bench-results, or bench-quick with --quick); resumed when rerun")
@click.option("-q", "--quiet", is_flag=True, help="no progress")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
@click.option("--method", "methods", multiple=True, metavar="PATTERN",
              help="run only methods matching this shell pattern (repeatable; real and classical always run)")
@click.option("--report", "report_only", is_flag=True,
              help="compute nothing: write the results of the finished cells, list the rest")
@click.option("--allow-mixed-code", is_flag=True,
              help="read back finished cells whatever code computed them (each row marked by its code key) "
                   "instead of recomputing them, or, with --report, instead of refusing a mix")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="where cells run: here one after another, or as Ray tasks (pip install 'gda-core[ray]')")
@click.option("--address", default=None, metavar="ADDR",
              help="with --executor ray: the cluster to join ('auto', 'ray://host:10001'; default RAY_ADDRESS, "
                   "else a local Ray instance)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="with --executor ray: cells in flight at once (default: the cluster's CPUs / --cpus-per-cell)")
@click.option("--cpus-per-cell", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="with --executor ray: CPUs Ray reserves for each cell")
@click.option("--gpus-per-cell", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="with --executor ray: GPUs Ray reserves for each cell")
@click.option("--list", "list_only", is_flag=True, help="list the installed suites and exit")
def bench_cmd(suite_names: tuple[str, ...], seeds: int | None, quick: bool, output: str | None,
              quiet: bool, verbose: bool, methods: tuple[str, ...], report_only: bool, allow_mixed_code: bool,
              executor: str, address: str | None, workers: int | None, cpus_per_cell: float,
              gpus_per_cell: float, list_only: bool) -> None:
    """Run benchmark suites: every method over run seeds, paired intervals, copies, cost, ratio sweep.

    With no SUITE, every installed suite runs. Results go to results.csv, results.md and one
    PNG per suite; a killed bench rerun on the same folder continues from its finished cells.
    A cell is reused only when the code that computed it is this code (the gda packages its
    config names and the result libraries); --executor ray runs the cells as Ray tasks.
    """
    from .suite import get_suite, suites

    if list_only:
        for name, s in suites().items():
            click.echo(f"{name}  ({s.plugin})  {s.summary}")
            models = ", ".join(d.label + (" (strong)" if d.strong else "") for d in s.downstream)
            click.echo(f"    downstream: {models}; methods: {', '.join(m.name for m in s.methods)}")
        return
    chosen = [get_suite(n) for n in suite_names] if suite_names else list(suites().values())
    from .report import write_report
    from .runner import run_bench

    if not verbose:
        silence_libraries()
    from ..pipeline import expand_user

    out = expand_user(output or ("bench-quick" if quick else "bench-results"), "--output")
    ray = None
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise click.UsageError("--executor ray needs Ray, which is not installed: pip install 'gda-core[ray]'")
        from .ray_cells import RayBench

        ray = RayBench(address=address, workers=workers, cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell)
    elif address or workers:
        raise click.UsageError("--address and --workers are for --executor ray")
    # the code that writes the report, read before it runs (a checkout may move meanwhile)
    here = {f"report written at {k}" if k == "commit" else k: v for k, v in code_versions().items()}
    with claimed(out):
        t0, c0 = time.perf_counter(), time.process_time()
        echo = (lambda _msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
        result = run_bench(chosen, out, seeds=seeds, quick=quick, quiet=quiet, echo=echo,
                           methods=list(methods) or None, compute=not report_only,
                           allow_mixed_code=allow_mixed_code, ray=ray)
        header = {"command": "gda " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "gda bench",
                  **cells_code(result), **here, "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                  "wall time": f"{time.perf_counter() - t0:.0f} s (CPU {time.process_time() - c0:.0f} s in this "
                               f"process; load average at the end {os.getloadavg()[0]:.1f})", "quick": str(quick),
                  "executor": executor + (f" ({len(result.workers)} worker processes)" if ray else "")}
        path = write_report(result, out, header)
    if not quiet:
        click.echo(f"{len(result.rows)} rows; report: {path}")
        for s in result.skipped:
            click.echo(f"not run: {s.suite} {s.what}: {s.why}")
