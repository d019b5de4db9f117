"""The ``gda bench`` command (attached to the ``gda`` group in ``gda_core.cli``)."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import click

from ..library_noise import VERBOSE_HELP, silence_libraries


def _commit() -> str | None:
    """The git commit of the running gda_core, when it runs from a clone that tracks this file
    (a virtual environment inside some other repository is not one); None otherwise."""
    here = Path(__file__).resolve()

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=here.parent)

    try:
        if git("ls-files", "--error-unmatch", here.name).returncode != 0:
            return None
        out = git("rev-parse", "--short", "HEAD").stdout.strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (out + (" (with uncommitted changes)" if dirty else "")) if out else None


def code_versions() -> dict[str, str]:
    """What code made the results: the git commit in a clone, and always the installed version
    of every plugin's distribution (``gda-core 0.1.0, gda-vision 0.1.0, ...``)."""
    from ..host import host

    out = {}
    commit = _commit()
    if commit:
        out["commit"] = commit
    dists = sorted({f"{p.distribution} {p.version}" for p in host.list_plugins() if p.distribution})
    out["packages"] = ", ".join(dists) or "unknown"
    return out


def _machine() -> str:
    from .runner import machine_memory_gb

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{machine_memory_gb():.0f} GiB RAM, Python {platform.python_version()}")


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
@click.option("--list", "list_only", is_flag=True, help="list the installed suites and exit")
def bench_cmd(suite_names: tuple[str, ...], seeds: int | None, quick: bool, output: str | None,
              quiet: bool, verbose: bool, methods: tuple[str, ...], report_only: bool, list_only: bool) -> None:
    """Run benchmark suites: every method over run seeds, paired intervals, copies, cost, ratio sweep.

    With no SUITE, every installed suite runs. Results go to results.csv, results.md and one
    PNG per suite; a killed bench rerun on the same folder continues from its finished cells.
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
    out = Path(output or ("bench-quick" if quick else "bench-results"))
    out.mkdir(parents=True, exist_ok=True)
    code = code_versions()  # the code that runs, read before it runs (a checkout may move meanwhile)
    t0, c0 = time.perf_counter(), time.process_time()
    echo = (lambda _msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    result = run_bench(chosen, out, seeds=seeds, quick=quick, quiet=quiet, echo=echo,
                       methods=list(methods) or None, compute=not report_only)
    header = {"command": "gda " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "gda bench",
              **code, "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
              "wall time": f"{time.perf_counter() - t0:.0f} s (CPU {time.process_time() - c0:.0f} s; "
                           f"load average at the end {os.getloadavg()[0]:.1f})", "quick": str(quick)}
    path = write_report(result, out, header)
    if not quiet:
        click.echo(f"{len(result.rows)} rows; report: {path}")
        for s in result.skipped:
            click.echo(f"not run: {s.suite} {s.what}: {s.why}")
