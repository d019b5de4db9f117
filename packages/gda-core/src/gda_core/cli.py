"""The ``gda`` command line. Imports stay light so ``gda --help`` starts fast."""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .bench.cli import bench_cmd
from .hookspecs import KIND_NAMES


class _GDAGroup(click.Group):
    """Turns :class:`~gda_core.errors.GDAError` into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        from .errors import GDAError

        try:
            return super().invoke(ctx)
        except GDAError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_GDAGroup)
@click.version_option(__version__, prog_name="gda")
def cli() -> None:
    """GDA: generative data augmentation.

    Fit a generative model on scarce real data, generate synthetic samples, keep
    the good ones, and measure whether they help.
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
            for p in item["params"]:
                default = " (required)" if p["required"] else f" = {p['default']!r}"
                desc = f"  {p['description']}" if p["description"] else ""
                click.echo(f"      {p['name']}: {p['type']}{default}{desc}")


@cli.command(name="run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), help="run folder (overrides the config's)")
@click.option("--overwrite", is_flag=True, help="replace a folder that holds another run")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars or summary")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="override a config value, e.g. --set generator.params.epochs=2 --set validators.0.params.seeds=1")
def run_cmd(config: str, output: str | None, overwrite: bool, quiet: bool, overrides: tuple[str, ...]) -> None:
    """Run the whole chain from a YAML config; resumes an interrupted run in the same folder."""
    from .pipeline import run

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
    @click.argument("run_folder", type=click.Path(file_okay=False, exists=True))
    @click.option("-q", "--quiet", is_flag=True, help="no progress bars or summary")
    def command(run_folder: str, quiet: bool) -> None:
        from .pipeline import step as run_step

        result = run_step(run_folder, step, quiet=quiet)
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
