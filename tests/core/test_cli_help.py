"""Help that works: examples that run on the shipped examples, no "..."-cut descriptions,
progress that degrades to plain lines off a terminal, libraries quiet under --quiet."""

from __future__ import annotations

import importlib.util
import io
import logging
import shlex
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from gda_core.cli import cli
from gda_core.config import apply_overrides, load_yaml, resolve
from gda_core.context import PlainProgress, RunContext
from gda_core.errors import ConfigError
from gda_core.library_noise import silence_libraries

from .helpers import blobs

REPO = Path(__file__).resolve().parents[2]


def _help(*args: str) -> str:
    done = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80)
    assert done.exit_code == 0, done.output
    return done.output


def test_top_level_help_is_not_cut():
    out = _help()
    commands = out[out.index("Commands:"):]
    assert "..." not in commands
    assert "Run the validators again on a run folder and rewrite its report." in out


def test_run_help_examples_resolve_on_the_shipped_core_example():
    out = _help("run")
    examples = [shlex.split(line.strip()) for line in out.splitlines() if line.strip().startswith("gda run")]
    core = [e for e in examples if e[2] == "examples/core.yaml"]
    assert core, out
    for argv in core:
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        resolve(apply_overrides(load_yaml(REPO / argv[2]), sets))  # raises on a bad path or value
    # every "e.g. ..." example in the option help resolves on the core example too
    options = " ".join(out[out.index("Options:"):].split())
    checked = 0
    for example in options.split("e.g. ")[1:]:
        tokens, sets = example.split(), []
        for flag, value in zip(tokens[::2], tokens[1::2]):
            if flag == "--set" and "=" in value:
                sets.append(value.rstrip(";,)"))
            elif flag == "--executor" and not value.startswith("["):
                sets.append(f"executor.name={value.rstrip(';,)')}")
            else:
                break
        if sets:
            config = apply_overrides(load_yaml(REPO / "examples/core.yaml"), sets)
            if "executor.name=ray" in sets and importlib.util.find_spec("ray") is None:
                # without Ray installed, the example is refused with the install command, before any work
                with pytest.raises(ConfigError, match=r"gda-core\[ray\]"):
                    resolve(config)
            else:
                resolve(config)
            checked += 1
    assert checked >= 2


def test_plain_progress_off_a_terminal(capsys, monkeypatch):
    ctx = RunContext(train=blobs(2))
    assert list(ctx.progress(range(5), desc="fast")) == list(range(5))
    assert capsys.readouterr().err == ""  # a loop done within quiet_s prints nothing
    monkeypatch.setattr(PlainProgress, "quiet_s", 0.0)
    items = list(ctx.progress(range(50), desc="fit"))
    assert items == list(range(50))
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err
    lines = err.strip().splitlines()
    assert 5 <= len(lines) <= 11
    assert lines[-1].startswith("gda: fit 50/50 (100%")
    quiet = RunContext(train=blobs(2), quiet=True)
    assert list(quiet.progress(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_plain_progress_without_a_length(monkeypatch):
    monkeypatch.setattr(PlainProgress, "quiet_s", 0.0)
    buf = io.StringIO()
    monkeypatch.setattr("sys.stderr", buf)
    assert len(PlainProgress(range(7))) == 7
    list(PlainProgress(iter(range(3)), "gen"))
    assert buf.getvalue().startswith("gda: gen 3 (")


def test_silence_libraries_quiets_warnings_and_library_loggers(recwarn):
    with warnings.catch_warnings():
        silence_libraries()
        warnings.warn("a library warning", UserWarning, stacklevel=1)
        assert len(recwarn) == 0
    assert logging.getLogger("transformers").level == logging.ERROR
    assert logging.getLogger("peft").level == logging.ERROR
