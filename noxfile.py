"""Sessions: one per package (installs only that package, gda-core and test tools),
plus lint, demo and bench. `nox` alone runs the test sessions and lint."""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "core", "vision", "medical", "text", "signal"]

PYTHON = "3.11"
CORE = "./packages/gda-core"
# Fast CPU-only torch from this machine's disk; torchaudio needs the 2.14.1 build.
TORCH_CPU = "torch==2.13.0"
TORCH_AUDIO = ["torch==2.14.1", "torchaudio==2.11.0"]
TEST_TOOLS = ["pytest>=8", "hatchling>=1.21"]
PLUGINS = ["vision", "medical", "text", "signal"]
ENV = {"GDA_LOAD_PLUGINS": "", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}


def pytest(session: nox.Session, *paths: str) -> None:
    """Run pytest; exit code 5 (no tests collected) is not a failure."""
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs,
                env=ENV, success_codes=[0, 5])


def smoke(session: nox.Session, example: str, *overrides: str) -> None:
    """Run an example end to end in this session's environment, shrunk by --set overrides."""
    out = os.path.join(session.create_tmp(), "smoke-" + os.path.basename(example).removesuffix(".yaml"))
    args = ["gda", "run", example, "-o", out, "--overwrite", "--quiet"]
    for o in overrides:
        args += ["--set", o]
    session.run(*args, env={k: v for k, v in ENV.items() if k != "GDA_LOAD_PLUGINS"})
    session.run("python", "-c", f"import pathlib; p = pathlib.Path({out!r}); "
                "assert (p / 'report.md').is_file() and (p / 'manifest.jsonl').is_file(); "
                "print((p / 'report.md').read_text()[:2000])")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over every package, test and benchmark."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """gda-core alone (no torch): unit tests, docs test, template plugin integration."""
    session.install(f"{CORE}[test]", *TEST_TOOLS)
    pytest(session, "tests/core", "tests/integration")
    smoke(session, "examples/core.yaml")


def _plugin_session(session: nox.Session, name: str, torch: list[str], example: str, *overrides: str) -> None:
    session.install(*torch)
    session.install(CORE, f"./packages/gda-{name}[test]", *TEST_TOOLS)
    pytest(session, f"tests/{name}")
    if os.path.exists(example):
        smoke(session, example, *overrides)


@nox.session(python=PYTHON)
def vision(session: nox.Session) -> None:
    """gda-vision with the CPU build of torch."""
    _plugin_session(session, "vision", [TORCH_CPU], "examples/digits.yaml", *VISION_SMOKE)


@nox.session(python=PYTHON)
def medical(session: nox.Session) -> None:
    """gda-medical with the CPU build of torch."""
    _plugin_session(session, "medical", [TORCH_CPU], "examples/phantoms.yaml", *MEDICAL_SMOKE)


@nox.session(python=PYTHON)
def text(session: nox.Session) -> None:
    """gda-text with the CPU build of torch."""
    _plugin_session(session, "text", [TORCH_CPU], "examples/text.yaml", *TEXT_SMOKE)


@nox.session(python=PYTHON)
def signal(session: nox.Session) -> None:
    """gda-signal with torch 2.14.1, the build PyPI's torchaudio works with."""
    _plugin_session(session, "signal", TORCH_AUDIO, "examples/gunpoint.yaml", *SIGNAL_SMOKE)


# Overrides that shrink each example to a smoke run in CI (the full runs are the demos).
VISION_SMOKE: list[str] = [
    "generator.params.train_steps=30", "generator.params.num_inference_steps=5", "generate.per_class=6",
    "validators.0.params.seeds=1", "validators.3.params.methods=[pca]", "embedder.params.steps=20",
]
MEDICAL_SMOKE: list[str] = [
    "dataset.params.size=16", "generator.params.steps=5", "generator.params.channels=[8,8]",
    "generator.params.inference_steps=4", "application.params.steps=5", "application.params.channels=[8,16]",
    "application.params.patch_size=[8,8,8]", "generate.per_class=4", "validators.0.params.seeds=1",
]
TEXT_SMOKE: list[str] = [
    "dataset.params.k_shot=5", "generate.per_class=5", "strategy.params.scratch.epochs=2", "strategy.params.epochs=1",
    "validators.0.params.seeds=1",
]
SIGNAL_SMOKE: list[str] = [
    "dataset.params.k_shot=4", "generator.params.steps=4", "generator.params.base_channels=8",
    "generator.params.num_inference_steps=3", "generate.per_class=4", "validators.0.params.seeds=1",
    "validators.1.params.iterations=5", "validators.1.params.repeats=1", "validators.2.params.iterations=5",
    "validators.2.params.repeats=1", "application.params.n_kernels=168", "embedder.params.n_kernels=84",
]

@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The README's main job: 5-shot digits with a class-conditional DDPM, writing runs/demo with a report.

    `nox -s demo -- core` runs the torch-free core demo (wine, Gaussian mixture) instead.
    """
    env = {k: v for k, v in ENV.items() if k != "GDA_LOAD_PLUGINS"}
    if session.posargs and session.posargs[0] == "core":
        session.install(CORE)
        session.run("gda", "run", "examples/core.yaml", "-o", "runs/demo-core", "--overwrite", env=env)
        return
    session.install(TORCH_CPU)
    session.install(CORE, "./packages/gda-vision")
    session.run("gda", "run", "examples/digits.yaml", "-o", "runs/demo", "--overwrite", env=env)
    session.log("report: runs/demo/report.html (and report.md)")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks in benchmarks/ with every package installed (timings, not pass/fail)."""
    session.install(*TORCH_AUDIO)
    session.install(CORE, *[f"./packages/gda-{p}" for p in PLUGINS])
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", os.path.join("benchmarks", script), env={**ENV, "GDA_LOAD_PLUGINS": ",".join(
                f"gda-{p}" for p in PLUGINS)})
