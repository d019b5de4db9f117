"""Test, lint, build, demo and bench sessions.

The environment is shared: every session but lint runs in one virtual environment,
``.nox/env`` (``TEST_TORCH`` and ``DEMO_TORCH`` below), and installs into it only what it
adds (its package and test extras, its torch build), so torch and the common libraries are
installed once, not once per session, and a session that needs no torch (the core demo)
installs none. nox has no option to share one
environment between sessions, so these sessions run with ``venv_backend="none"`` and
:class:`SharedEnv` creates the environment with the standard library's ``venv`` and runs
its ``pip`` and tools by path (installs through ``session.run_install``, so
``nox --install-only`` only builds the environments). Delete ``.nox/`` to start afresh.

To add a test session: add the package to ``PACKAGES`` (or a session function calling
``shared_env(session)``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "core", "vision", "medical", "text", "signal", "ray"]

PYTHON = "3.11"
CORE = "./packages/gda-core"
# One environment, .nox/env, for the demo and every test session, with one of two torch builds.
# The tests pin TEST_TORCH: PyPI's torchaudio 2.11 (gda-signal) imports only beside torch 2.14.1,
# a CUDA build (it runs on the CPU; 5.5 GB with its nvidia-* wheels, which libtorch_cuda.so links,
# so they stay). The demo takes DEMO_TORCH, the CPU-only torch 2.13.0 on this machine's disk
# (0.9 GB), only where the environment has no torch yet: a newcomer who runs only the demo
# installs 0.9 GB of torch, not 5.5 GB; the tests then replace it in place, and a demo after the
# tests runs on their build rather than install the other one beside it (one environment of
# about 5.7 GB after the README's two commands, where one per build made 8.3 GB).
TEST_TORCH = ["torch==2.14.1", "torchaudio==2.11.0"]
DEMO_TORCH = ["torch==2.13.0"]
# Removed after every install. triton (0.9 GB) comes with torch 2.14.1, but only torch.compile's
# GPU code generation uses it: `import torch` and everything GDA and its tests do on a CPU run
# without it (no library links it). pip puts it back whenever it resolves torch's dependencies.
DROP = ["triton"]
# Test sessions: package -> (example run end to end, overrides that shrink it).
PACKAGES: dict[str, tuple[str, list[str]]] = {}  # filled below the smoke overrides
TEST_TOOLS = ["pytest>=8", "hatchling>=1.21", "hypothesis>=6"]
# Every command's environment. GDA_LOAD_PLUGINS restricts the plugins a command loads (an empty
# string: only the core's built-ins), so a shared environment behaves like a package's own one.
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "MPLBACKEND": "Agg", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "GDA_LOAD_PLUGINS": ""}


def _interpreter() -> str:
    """Python 3.11 for the shared environments: ``python3.11`` on PATH, else the one running nox."""
    found = shutil.which(f"python{PYTHON}")
    if found:
        return found
    if sys.version_info[:2] != tuple(map(int, PYTHON.split("."))):
        raise SystemExit(f"nox: the shared environments need Python {PYTHON}; none found on PATH")
    return sys.executable


class SharedEnv:
    """The virtual environment at ``.nox/env`` that every session but lint shares.

    Created once (``python -m venv``), empty; each session installs its torch build with its
    packages (:meth:`install`), which pip skips when they are there already, and ``DROP`` goes
    after every install. Installs print pip's own progress (never silenced), so a long first
    install shows what it is doing.
    """

    def __init__(self, session: nox.Session) -> None:
        self.session = session
        self.path = session.cache_dir.parent / "env"  # cache_dir is <envdir>/.cache
        self.bin = self.path / ("Scripts" if os.name == "nt" else "bin")
        self.python = str(self.bin / ("python.exe" if os.name == "nt" else "python"))
        if not Path(self.python).exists():
            session.log(f"creating the shared environment {self.path}")
            session.run_install(_interpreter(), "-m", "venv", str(self.path))
        else:
            session.log(f"reusing the shared environment {self.path}")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Variables for a command in this environment: ``ENV``, ``extra``, its ``bin`` first on PATH."""
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**ENV, **(extra or {}), "VIRTUAL_ENV": str(self.path), "PATH": path}

    def has_torch(self) -> bool:
        """Whether some torch build is installed here."""
        import subprocess

        probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
        return subprocess.run([self.python, "-c", probe], capture_output=True).returncode == 0

    def install(self, *requirements: str, torch: str | None = "tests") -> None:
        """``pip install`` into this environment with a torch build: ``"tests"`` (``TEST_TORCH``),
        ``"demo"`` (``DEMO_TORCH`` when there is no torch yet, else the one there) or None (no
        torch); pip's progress shown. Then remove ``DROP``."""
        pins = TEST_TORCH if torch == "tests" else DEMO_TORCH if torch == "demo" and not self.has_torch() else []
        requirements = (*pins, *requirements)
        if requirements:
            self.session.run_install(self.python, "-m", "pip", "install", "--progress-bar", "on", *requirements,
                                     env=self.env(), silent=False)
        self.session.run_install(self.python, "-m", "pip", "uninstall", "--yes", "--quiet", *DROP,
                                 env=self.env(), silent=True)

    def run(self, *args: str, env: dict[str, str] | None = None, **kwargs: object) -> None:
        """Run a tool of this environment (``python``, ``gda``, ``pytest`` ...)."""
        tool = str(self.bin / args[0]) if (self.bin / args[0]).exists() else args[0]
        self.session.run(tool, *args[1:], env=self.env(env), **kwargs)


def shared_env(session: nox.Session) -> SharedEnv:
    """The shared environment for this session."""
    return SharedEnv(session)


def pytest(env: SharedEnv, *paths: str) -> None:
    """Run pytest; exit code 5 (no tests collected) is not a failure."""
    env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths, *env.session.posargs,
            success_codes=[0, 5])


def smoke(env: SharedEnv, example: str, *overrides: str, plugins: str = "") -> None:
    """Run an example end to end with only ``plugins`` loaded, shrunk by ``--set`` overrides."""
    out = os.path.join(env.session.create_tmp(), "smoke-" + os.path.basename(example).removesuffix(".yaml"))
    args = ["gda", "run", example, "-o", out, "--overwrite", "--quiet"]
    for o in overrides:
        args += ["--set", o]
    env.run(*args, env={"GDA_LOAD_PLUGINS": plugins})
    env.run("python", "-c", f"import pathlib; p = pathlib.Path({out!r}); "
            "assert (p / 'report.md').is_file() and (p / 'manifest.jsonl').is_file(); "
            "print((p / 'report.md').read_text()[:2000])")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over every package, test and benchmark."""
    session.install("ruff>=0.6", silent=False)
    session.run("ruff", "check", ".")


@nox.session(venv_backend="none")
def core(session: nox.Session) -> None:
    """gda-core (its torch helpers need torch; the rest is torch-free): unit tests, template plugin, example."""
    env = shared_env(session)
    env.install(f"{CORE}[test,scale]", *TEST_TOOLS)  # [scale]: faiss, for the approximate-search tests
    pytest(env, "tests/core", "tests/integration", "--ignore=tests/core/test_executors.py")
    smoke(env, "examples/core.yaml")


@nox.session(venv_backend="none")
def ray(session: nox.Session) -> None:
    """The Ray executor (gda-core[ray]): a local 2-CPU Ray instance inside the tests runs a core and a
    vision.ddpm pipeline, and a worker is killed (tests/core/test_executors.py; docs/scale.md)."""
    env = shared_env(session)
    env.install(f"{CORE}[test,ray]", "./packages/gda-vision", *TEST_TOOLS)
    pytest(env, "tests/core/test_executors.py")


def _plugin_session(session: nox.Session, name: str) -> None:
    example, overrides = PACKAGES[name]
    env = shared_env(session)
    env.install(CORE, f"./packages/gda-{name}[test]", *TEST_TOOLS)
    pytest(env, f"tests/{name}")
    if os.path.exists(example):
        smoke(env, example, *overrides, plugins=f"gda-{name}")


@nox.session(venv_backend="none")
def vision(session: nox.Session) -> None:
    """gda-vision, in the shared environment."""
    _plugin_session(session, "vision")


@nox.session(venv_backend="none")
def medical(session: nox.Session) -> None:
    """gda-medical, in the shared environment."""
    _plugin_session(session, "medical")


@nox.session(venv_backend="none")
def text(session: nox.Session) -> None:
    """gda-text, in the shared environment."""
    _plugin_session(session, "text")


@nox.session(venv_backend="none")
def signal(session: nox.Session) -> None:
    """gda-signal (torchaudio, hence the tests' torch 2.14.1), in the shared environment."""
    _plugin_session(session, "signal")


@nox.session(venv_backend="none")
def gpu(session: nox.Session) -> None:
    """The CUDA and bf16 paths on a GPU machine (not in the default list; issue 24): tests/gpu
    (every torch generator fits and samples on ``cuda`` in float32 and bfloat16; a model fitted on
    the GPU samples on the CPU and the other way round, within a tolerance), then the plugins'
    conformance kits with every torch component on ``cuda`` (``GDA_CONFORMANCE_DEVICE``; precision
    ``auto``, so bfloat16 where the GPU has it). ``nox -s gpu -- --device cuda:1`` picks a device;
    ``benchmarks/bench_gpu.py`` times the demo's generator and sampling there (docs/scale.md).

    ``-- --here`` installs nothing and runs in the interpreter that runs nox: for a GPU machine
    that reaches no package index, whose own torch is the one to test, with GDA and what it needs
    put on ``PYTHONPATH`` from carried wheels (``benchmarks/gpu/device.sh`` does all of it)."""
    device = "cuda"
    args = list(session.posargs)
    if "--device" in args:
        i = args.index("--device")
        if i + 1 >= len(args):
            session.error("nox -s gpu -- --device needs a device, e.g. --device cuda:1")
        device = args[i + 1]
        del args[i:i + 2]
    here = "--here" in args
    args = [a for a in args if a != "--here"]
    plugins = {"GDA_LOAD_PLUGINS": "gda-vision,gda-medical,gda-signal,gda-text", "GDA_TEST_DEVICE": device}
    conformance = {"GDA_CONFORMANCE_DEVICE": device}
    if here:
        def run(*cmd: str, env: dict[str, str]) -> None:
            session.run(sys.executable, *cmd, env={**ENV, **env}, external=True)
    else:
        shared = shared_env(session)
        shared.install(CORE, *(f"./packages/gda-{name}[test]" for name in ("vision", "medical", "signal", "text")),
                       *TEST_TOOLS)

        def run(*cmd: str, env: dict[str, str]) -> None:
            shared.run("python", *cmd, env=env)
    run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/gpu", *args, env=plugins)
    run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/vision/test_conformance.py",
        "tests/medical/test_conformance.py", "tests/signal/test_conformance.py", *args, env=conformance)


# Overrides that shrink each example to a smoke run in CI (the full runs are the demos).
VISION_SMOKE: list[str] = [
    "generator.params.train_steps=30", "generator.params.num_inference_steps=5", "generate.per_class=6",
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
PACKAGES.update({
    "vision": ("examples/digits.yaml", VISION_SMOKE),
    "medical": ("examples/phantoms.yaml", MEDICAL_SMOKE),
    "text": ("examples/text.yaml", TEXT_SMOKE),
    "signal": ("examples/gunpoint.yaml", SIGNAL_SMOKE),
})


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Wheels and sdists of every package (and the plugin template) into dist/, checked with twine."""
    session.install("build>=1.2", "twine>=5", silent=False)
    out = Path("dist")
    shutil.rmtree(out, ignore_errors=True)
    projects = sorted(str(p.parent) for p in Path("packages").glob("*/pyproject.toml"))
    projects.append("templates/gda-plugin")
    for project in projects:
        session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(out), project)
    files = sorted(str(p) for p in out.iterdir())
    session.run("python", "-m", "twine", "check", "--strict", *files)
    session.log(f"{len(files)} files in dist/: install one with `pip install dist/<name>.whl`")


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """The README's main job: 5-shot digits with a class-conditional DDPM, writing runs/demo with a report.

    `nox -s demo -- core` runs the core demo (wine, Gaussian mixture) instead; it installs no torch.
    """
    env = shared_env(session)
    if session.posargs and session.posargs[0] == "core":
        env.install(CORE, torch=None)
        env.run("gda", "run", "examples/core.yaml", "-o", "runs/demo-core", "--overwrite")
        session.log("report: runs/demo-core/report.html (and report.md)")
        return
    env.install(CORE, "./packages/gda-vision", torch="demo")
    env.run("gda", "run", "examples/digits.yaml", "-o", "runs/demo", "--overwrite",
            env={"GDA_LOAD_PLUGINS": "gda-vision"})
    session.log("report: runs/demo/report.html (and report.md)")


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks in benchmarks/ with every package installed (timings, not pass/fail)."""
    env = shared_env(session)
    plugins = list(PACKAGES)
    env.install(f"{CORE}[ray]", *[f"./packages/gda-{p}" for p in plugins])  # [ray]: Ray and faiss (docs/scale.md)
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            env.run("python", os.path.join("benchmarks", script),
                    env={"GDA_LOAD_PLUGINS": ",".join(f"gda-{p}" for p in plugins)})
