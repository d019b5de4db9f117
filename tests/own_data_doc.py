"""The configs of docs/own-data.md, by loader name, for the packages' tests to resolve and run.

Each YAML block of the doc opens with a ``# quick check: --set ... --set ...`` comment: the
overrides that shorten its training for a first try. :func:`check` resolves the block as written
and with its quick check, and checks that the quick check lowers every training length the block
sets (steps, epochs) and the samples per class; :func:`run_tiny` runs the quick-checked block end to
end on data a test wrote, shrunk further by the test's own overrides.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"
# parameter names that set how long a component trains
TRAINING_LENGTHS = ("steps", "train_steps", "epochs")


def _blocks() -> dict[str, tuple[dict, list[str]]]:
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S):
        cfg = yaml.safe_load(block)
        quick = re.search(r"^# quick check: (.*)$", block, flags=re.M)
        assert quick, f"docs/own-data.md: the {cfg['dataset']['name']} block has no '# quick check:' line"
        words = shlex.split(quick.group(1))
        assert words[::2] == ["--set"] * (len(words) // 2) and len(words) % 2 == 0, quick.group(0)
        out[cfg["dataset"]["name"]] = (cfg, words[1::2])
    return out


def own_data_configs() -> dict[str, dict]:
    """Every YAML block of docs/own-data.md that names a data set, keyed by the loader's name."""
    return {name: cfg for name, (cfg, _) in _blocks().items()}


def quick_check(loader: str) -> list[str]:
    """The ``--set`` overrides of the block's quick check (``path=value`` strings)."""
    return _blocks()[loader][1]


def _training_lengths(cfg: dict) -> dict[str, int]:
    """Training-length parameters the config writes, by dotted path."""
    out = {}
    for section in ("generator", "application", "strategy"):
        ref = cfg.get(section)
        params = ref.get("params", {}) if isinstance(ref, dict) else {}
        out.update({f"{section}.params.{k}": v for k, v in params.items() if k in TRAINING_LENGTHS})
    return out


def check(loader: str) -> None:
    """The doc's config for ``loader`` resolves as written and with its quick check, and the quick
    check shortens it: every training length the block sets, and the samples per class, lower."""
    from gda_core.config import apply_overrides, resolve

    cfg, quick = _blocks()[loader]
    assert resolve(cfg).dataset.name == loader
    quick_cfg = apply_overrides(cfg, quick)
    resolve(quick_cfg)
    assert quick_cfg["generate"]["per_class"] < cfg["generate"]["per_class"]
    full, short = _training_lengths(cfg), _training_lengths(quick_cfg)
    assert all(short[k] < v for k, v in full.items()), (loader, full, short)


def run_tiny(loader: str, path: Path, out: Path, *overrides: str, **params: Any) -> Any:
    """Run the doc's block for ``loader`` with its quick check on the data at ``path``, then the
    test's ``overrides`` (to seconds) and dataset ``params``; the run's result."""
    import gda_core
    from gda_core.config import apply_overrides

    cfg, quick = _blocks()[loader]
    cfg = apply_overrides(cfg, [*quick, *overrides])
    cfg["dataset"]["params"].update({"path": str(path), **params})
    return gda_core.run(cfg, out, quiet=True)
