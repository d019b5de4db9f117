"""The ``gda`` command line. Imports stay light so ``gda --help`` starts fast."""

from __future__ import annotations

import json
import logging
import pickle
import sys

import click

from . import __version__
from .bench.cli import bench_cmd
from .hookspecs import KIND_NAMES
from .library_noise import VERBOSE_HELP


class _EchoHandler(logging.Handler):
    """Warnings of the ``gda`` logger (a replaced folder, a regenerated shard) as ``gda: ...`` on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"gda: {record.getMessage()}", err=True)


class _GDAGroup(click.Group):
    """Turns :class:`~gda_core.errors.GDAError` into one line on stderr and exit code 2; so are
    operating-system errors (a read-only or full disk) and running out of memory."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its whole one-line description (click would cut it with "...")."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from .errors import GDAError

        log = logging.getLogger("gda")
        if not any(isinstance(h, _EchoHandler) for h in log.handlers):
            log.addHandler(_EchoHandler(logging.WARNING))
        try:
            return super().invoke(ctx)
        except GDAError as exc:
            one_line = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
            click.echo(f"Error: {one_line}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"Error: {exc.strerror or exc}{where}; finished work is kept, run the command again "
                       "once this is fixed", err=True)
            ctx.exit(2)
        except MemoryError:
            click.echo("Error: out of memory; lower the generate counts or a batch size", err=True)
            ctx.exit(2)
        except pickle.UnpicklingError as exc:  # torch's weights-only load of a checkpoint holding objects
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            click.echo(f"Error: a checkpoint holds pickled objects, not only weights ({first[:160]}); gda loads "
                       "weights only, even with GDA_ALLOW_PICKLE=1: convert it to safetensors", err=True)
            ctx.exit(2)


@click.group(cls=_GDAGroup, context_settings={"max_content_width": 120})
@click.version_option(__version__, prog_name="gda")
def cli() -> None:
    """GDA: generative data augmentation.

    Fit a generative model on scarce real data, generate synthetic samples, keep
    the good ones, and measure whether they help.

    \b
    Try:
      gda run examples/core.yaml -o runs/wine        # seconds, no torch
      gda list generators                            # components and their parameters
    """


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins_cmd(as_json: bool) -> None:
    """List installed plugins, their versions and hooks (and any that failed to load)."""
    from .errors import PluginError
    from .host import host

    clash = None
    try:  # registering (every kind in one pass) surfaces plugins that raise in their hooks
        host.components("generators")
    except PluginError as exc:
        clash = str(exc)
    infos = host.list_plugins()
    if as_json:
        click.echo(json.dumps([{"name": p.name, "distribution": p.distribution, "version": p.version,
                                "hooks": p.hooks, **({"error": p.error} if p.error else {})}
                               for p in infos], indent=2))
    else:
        for p in infos:
            head = f"{p.name} ({p.distribution or '?'} {p.version or ''})".replace(" )", ")")
            click.echo(head)
            if p.hooks:
                click.echo(f"  hooks: {', '.join(p.hooks)}")
            if p.error:
                click.echo(f"  error: {p.error}")
    if clash:
        click.echo(f"Error: {clash}", err=True)
        sys.exit(2)


@cli.command(name="list")
@click.argument("kind", required=False,
                type=click.Choice(KIND_NAMES))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_cmd(kind: str | None, as_json: bool) -> None:
    """List registered components with their parameters and defaults."""
    from .errors import PluginError
    from .host import host

    def describe(k: str, name: str) -> dict:
        try:
            return host.describe(k, name)
        except PluginError as exc:  # one broken component must not hide the rest
            info = host.components(k)[name]
            return {"name": name, "kind": k, "plugin": info.plugin, "class": info.qualname,
                    "summary": "", "params": [], "error": str(exc)}

    kinds = [kind] if kind else list(KIND_NAMES)
    out = {k: [describe(k, name) for name in host.components(k)] for k in kinds}
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    for k, items in out.items():
        click.secho(f"{k}:", bold=True)
        for item in items:
            click.echo(f"  {item['name']}  ({item['plugin']})  {item['summary']}")
            if item.get("error"):
                click.echo(f"      error: {item['error']}")
            if "methods" in item:  # a bench suite
                click.echo(f"      downstream: {', '.join(item['downstream'])}; methods: {', '.join(item['methods'])}")
            for p in item["params"]:
                default = " (required)" if p["required"] else f" = {p['default']!r}"
                desc = f"  {p['description']}" if p["description"] else ""
                desc += "  [sampling]" if p.get("sampling") else ""
                click.echo(f"      {p['name']}: {p['type']}{default}{desc}")


@cli.command(name="run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="run folder (overrides the config's)")
@click.option("--overwrite", is_flag=True,
              help="replace a folder that holds another gda run (never one without a gda_run.json)")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars or summary")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="override a config value (repeatable), e.g. --set generate.per_class=10 "
                   "--set validators.0.params.seeds=1")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="where shards are generated, embedded and scored (overrides the config's executor.name; "
                   "docs/scale.md); e.g. --executor ray --set executor.params.num_workers=4")
def run_cmd(config: str, output: str | None, overwrite: bool, quiet: bool, verbose: bool,
            overrides: tuple[str, ...], executor: str | None) -> None:
    """Run the whole chain from a YAML config; resumes an interrupted run in the same folder.

    \b
    Examples (on the shipped examples):
      gda run examples/core.yaml -o runs/wine
      gda run examples/core.yaml -o runs/wine-small --set generate.per_class=10 --set validators.0.params.seeds=1
      gda run examples/digits.yaml -o runs/digits --set generator.params.train_steps=200
    """
    from .pipeline import run

    if not verbose:
        from .library_noise import silence_libraries

        silence_libraries()

    if executor:  # before --set, so that --set executor.params.* adds to it
        overrides = ("executor=local" if executor == "local" else "executor.name=ray", *overrides)
    result = run(config, output, overwrite=overwrite, quiet=quiet, overrides=list(overrides))
    if not quiet:
        _summary(result)


def _summary(result) -> None:
    click.echo(f"run folder: {result.folder}")
    click.echo(f"generated {len(result.synthetic)}, kept {len(result.kept)}")
    for name, metrics in result.metrics.items():
        shown = {k: v for k, v in metrics.items() if not k.endswith(".std")}
        if shown:
            click.echo(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in list(shown.items())[:8]))
    click.echo(f"report: {result.folder / 'report.md'}")


def _step_command(step: str, help_text: str):
    @click.argument("run_folder", type=click.Path(file_okay=False))
    @click.option("-q", "--quiet", is_flag=True, help="no progress bars or summary")
    @click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
    @click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                  help="change the run's config.yaml first (repeatable), e.g. --set validators.0.params.seeds=3; "
                       "a digits run: --set generator.params.num_inference_steps=50")
    def command(run_folder: str, quiet: bool, verbose: bool, overrides: tuple[str, ...]) -> None:
        from .pipeline import step as run_step

        if not verbose:
            from .library_noise import silence_libraries

            silence_libraries()

        result = run_step(run_folder, step, quiet=quiet, overrides=list(overrides))
        if not quiet:
            _summary(result)

    command.__doc__ = help_text
    return cli.command(name=step, help=help_text)(command)


_step_command("generate", "Fit (or load) the generator and generate the missing shards of a run folder.")
_step_command("select", "Run the selector chain again on a run folder's generated samples.")
_step_command("validate", "Run the validators again on a run folder and rewrite its report.")
cli.add_command(bench_cmd)


def _add_plugin_commands() -> None:
    from .host import host

    host.call_each("register_commands", lambda _plugin: {"cli": cli})  # a broken one is recorded


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gda`` console script."""
    _add_plugin_commands()
    cli.main(args=argv, prog_name="gda")


if __name__ == "__main__":  # pragma: no cover
    main()
