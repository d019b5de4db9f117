import json
import subprocess
import sys

from click.testing import CliRunner

from gda_core import __version__
from gda_core.cli import cli


def _invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    r = _invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output
    assert "plugins" in _invoke("--help").output


def test_list_shows_parameters_and_defaults():
    r = _invoke("list", "generators")
    assert r.exit_code == 0
    assert "core.gmm" in r.output and "n_components: int = 2" in r.output
    data = json.loads(_invoke("list", "--json").output)
    assert {"generators", "selectors", "validators", "applications", "datasets", "embedders", "strategies",
            "bench_suites"} == set(data)
    topk = next(c for c in data["selectors"] if c["name"] == "core.topk")
    assert any(p["name"] == "by" and p["required"] for p in topk["params"])


def test_plugins_lists_the_core_with_its_hooks():
    data = json.loads(_invoke("plugins", "--json").output)
    core = next(p for p in data if p["name"] == "gda_core")
    assert "register_generators" in core["hooks"] and "error" not in core


def test_run_errors_exit_2_with_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("generator: {name: core.gmn}\nselectors: [core.topkk]\n")
    r = CliRunner().invoke(cli, ["run", str(cfg), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "did you mean 'core.gmm'" in r.output
    assert not (tmp_path / "out").exists()
    cfg.write_text("seed: [1]\n")
    r = CliRunner().invoke(cli, ["run", str(cfg), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "seed" in r.output
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_run_and_steps_through_the_cli(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: core.wine, params: {k_shot: 6}}\ngenerate: {per_class: 4}\n"
                   "validators: [core.prdc]\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", str(cfg), "-o", str(out), "--set", "generate.per_class=5"])
    assert r.exit_code == 0, r.output
    assert "generated 15" in r.output
    assert (out / "report.html").is_file()
    for step in ("generate", "select", "validate"):
        r = CliRunner().invoke(cli, [step, str(out), "-q"])
        assert r.exit_code == 0, r.output


def test_cli_start_does_not_import_numerics():
    code = ("import sys; from gda_core.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('numpy', 'sklearn', 'torch', 'pydantic') if m in sys.modules]\n"
            "print('IMPORTED', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "IMPORTED []" in out


def test_list_summaries_are_whole_sentences():
    """`gda list` shows each component's first sentence whole, not its docstring's first line."""
    from gda_core.host import doc_summary, host

    assert doc_summary("Fit on the labelled records plus\n    the pool. More.\n\n    Rest") == \
        "Fit on the labelled records plus the pool."
    assert doc_summary("One thing, e.g. this one. Next.") == "One thing, e.g. this one."
    assert doc_summary(None) == ""
    for kind in ("strategies", "selectors", "validators"):
        for name in host.components(kind):
            summary = host.describe(kind, name)["summary"]
            assert summary and summary[-1] in ".?!)", (kind, name, summary)
