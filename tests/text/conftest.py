import os
import subprocess
import sys
from pathlib import Path

import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-text")


sys.path.insert(0, str(Path(__file__).parent))

@pytest.fixture(scope="session")
def toy():
    from text_helpers import toy_dataset

    return toy_dataset(40, seed=0)


@pytest.fixture(scope="session")
def toy_test():
    from text_helpers import toy_dataset

    return toy_dataset(25, seed=1)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, toy):
    """A tiny GPT-2 + BPE tokenizer, briefly pre-trained on the toy texts (no labels), saved to disk."""
    from text_helpers import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), toy.texts(), pretrain_epochs=30)


@pytest.fixture(scope="session")
def lora_fitted(tmp_path_factory, toy, tiny_lm):
    """text.prompt on the tiny LM after text.lora fine-tuning on the label-prefixed toy set."""
    from text_helpers import context

    from gda_text.generators.prompt import PromptGenerator
    from gda_text.strategies.lora import LoraStrategy

    adapter_dir = tmp_path_factory.mktemp("adapter")
    gen = PromptGenerator(model=str(tiny_lm), device="cpu", max_new_tokens=16)
    strategy = LoraStrategy(epochs=20, lr=2e-2, r=8, adapter_dir=str(adapter_dir))
    gen = strategy.fit(gen, toy, context(toy))
    return gen, strategy, adapter_dir


_SERVER: dict = {}
"""The session's ``transformers serve``, launched in the background right after collection when a
collected test needs it (the model is built and the server boots while the other tests run)."""


def _launch_server() -> None:
    import tempfile
    import threading

    from openai_server import LocalServer

    folder = Path(tempfile.mkdtemp(prefix="gda-text-serve-"))
    _SERVER["folder"] = folder

    def boot() -> None:  # the model is built in a subprocess: torch's global seed here stays the tests' own
        model = folder / "served-gpt2"
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from pathlib import Path; "
                "from openai_server import build_served_model; from text_helpers import toy_dataset; "
                f"build_served_model(Path({str(model)!r}), toy_dataset(40, seed=0).texts())")
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
            if done.returncode:
                raise RuntimeError(f"building the served model failed: {done.stderr[-3000:]}")
            _SERVER["server"] = LocalServer(model, folder).launch()
        except BaseException as exc:  # reported by the fixture
            _SERVER["error"] = exc

    _SERVER["thread"] = threading.Thread(target=boot, name="gda-serve-boot", daemon=True)
    _SERVER["thread"].start()


def pytest_collection_modifyitems(session, config, items):
    if any("openai_server" in getattr(item, "fixturenames", ()) for item in items):
        _launch_server()


def pytest_sessionfinish(session, exitstatus):
    import shutil

    server = _SERVER.get("server")
    if server is not None:
        server.stop()
    if "folder" in _SERVER:
        shutil.rmtree(_SERVER["folder"], ignore_errors=True)


@pytest.fixture(scope="session")
def openai_server():
    """One real ``transformers serve`` with a tiny GPT-2 (chat template, 512 positions, briefly pre-trained
    on the toy texts) for the whole session; tests that kill it start it again."""
    if "thread" not in _SERVER:
        _launch_server()
    _SERVER["thread"].join()
    if "error" in _SERVER:
        raise _SERVER["error"]
    return _SERVER["server"].wait()
