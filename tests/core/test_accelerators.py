"""gda_core.torch.accelerators: one DeviceParams mix-in, one helper set, threads set once per process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from gda_core.errors import ConfigError
from gda_core.torch import accelerators
from gda_core.torch.accelerators import DeviceParams, PrecisionParams


def _python(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("GDA_TORCH_THREADS", "OMP_NUM_THREADS")}
    full.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_helpers_imports_no_torch():
    assert _python("import sys, gda_core.torch.accelerators; print('torch' in sys.modules)") == "False"


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_params_take_auto_cpu_cuda_and_cuda_n(device):
    assert DeviceParams(device=device).device == device


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "cuda:0,1"])
def test_device_params_refuse_other_names_naming_the_field(device):
    with pytest.raises(ValidationError, match="device"):
        DeviceParams(device=device)


def test_precision_params_take_the_four_precisions_only():
    for precision in ("auto", "float32", "bfloat16", "float16"):
        assert PrecisionParams(precision=precision).precision == precision
    with pytest.raises(ValidationError, match="precision"):
        PrecisionParams(precision="fp8")


def test_pick_dtype_takes_device_then_precision():
    torch = pytest.importorskip("torch")
    cpu = accelerators.pick_device("cpu")
    assert accelerators.pick_dtype(cpu) is torch.float32
    assert accelerators.pick_dtype("cpu", "bfloat16") is torch.bfloat16
    with pytest.raises(ConfigError, match="precision 'half'"):
        accelerators.pick_dtype(cpu, "half")
    with pytest.raises(ConfigError, match="not one of auto, cpu"):
        accelerators.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            accelerators.pick_device("cuda:1")


def test_thread_count_is_gdas_choice_unless_told(monkeypatch):
    monkeypatch.delenv("GDA_TORCH_THREADS", raising=False)
    assert accelerators.torch_threads() == accelerators.DEFAULT_THREADS == 1
    monkeypatch.setenv("GDA_TORCH_THREADS", "3")
    assert accelerators.torch_threads() == 3
    monkeypatch.setenv("GDA_TORCH_THREADS", "0")
    assert accelerators.torch_threads() is None  # torch's own default
    monkeypatch.setenv("GDA_TORCH_THREADS", "two")
    with pytest.raises(ConfigError, match="GDA_TORCH_THREADS"):
        accelerators.torch_threads()


def test_threads_are_reasserted_and_not_set_by_picking_a_device():
    """Another OpenMP user in the process (numba under aeon's MiniRocket) can raise the thread
    count between torch calls; each apply_thread_setting puts GDA's choice back."""
    pytest.importorskip("torch")
    code = ("import os, torch\n"
            "from gda_core.torch import accelerators as a\n"
            "torch.set_num_threads(2); a.pick_device('cpu'); picked = torch.get_num_threads()\n"
            "first = a.apply_thread_setting()\n"
            "torch.set_num_threads(2); again = a.apply_thread_setting()\n"
            "print(picked, first, again, torch.get_num_threads())")
    assert _python(code) == "2 1 1 1"  # GDA's choice, re-asserted; a device pick leaves threads alone
    assert _python(code.replace("first = a", "first = a"), GDA_TORCH_THREADS="0").split()[1] == "2"
