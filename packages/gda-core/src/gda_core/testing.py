"""Test helpers for plugin authors: plugin restriction and the conformance kit.

Load only the plugins a test suite names, in a plugin's ``tests/conftest.py``::

    from gda_core.testing import restrict_plugins

    _plugins_for_module, _plugins_for_test = restrict_plugins("gda-example")

Both fixtures are autouse: the first covers module-scoped fixtures (which run before
function-scoped ones), the second every test, so a plugin that a test registers by hand
is gone by the next test.

The conformance kit: subclass :class:`GeneratorContract` or :class:`SelectorContract` in a
test module (the class name must start with ``Test``), name the component, give tiny
parameters and data, and pytest runs the contract's tests on it::

    class TestExampleGenerator(GeneratorContract):
        name = "example.noise"
        params = {"scale": 0.1}
        plugins = ("gda-example",)

        def train_data(self):
            return planted_vectors(n=6, seed=0)[0]
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .context import RunContext
from .host import host
from .records import Dataset, Record, label_key


@contextlib.contextmanager
def only_plugins(*distributions: str) -> Iterator[None]:
    """Inside the block, load gda-core's built-ins and only these plugin distributions."""
    before = os.environ.get("GDA_LOAD_PLUGINS")
    os.environ["GDA_LOAD_PLUGINS"] = ",".join(distributions)
    host.reset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GDA_LOAD_PLUGINS", None)
        else:
            os.environ["GDA_LOAD_PLUGINS"] = before
        host.reset()


def restrict_plugins(*distributions: str) -> tuple[Any, Any]:
    """Two autouse pytest fixtures (module and function scope) wrapping :func:`only_plugins`."""
    import pytest

    @pytest.fixture(autouse=True, scope="module")
    def _gda_plugins_for_module() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    @pytest.fixture(autouse=True)
    def _gda_plugins_for_test() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    return _gda_plugins_for_module, _gda_plugins_for_test


# --- the conformance kit -----------------------------------------------------

HEAVY_MODULES = ("torch", "diffusers", "monai", "transformers", "peft", "torchaudio", "nlpaug", "aeon",
                 "faiss", "ray")
"""Modules that describing or listing a component must not import."""


def planted_vectors(n: int = 8, dim: int = 4, classes: tuple[Any, ...] = (0, 1), seed: int = 0,
                    gap: float = 20.0) -> tuple[Dataset, list[Record], list[Record]]:
    """A small labelled vector set and a planted mix for selectors, ``n`` of each per class: ``good``
    records near their class's real records, ``bad`` ones labelled with a class but lying near the
    next class's real records (or ``gap`` standard deviations off, with one class)."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(0, gap / 2, dim) for c in classes}
    train = Dataset([Record(f"r{c}-{i}", (centres[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
                     for c in classes for i in range(n)])
    good = [Record(f"good-{c}-{i}", (centres[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
            for c in classes for i in range(n)]
    elsewhere = {c: centres[classes[(j + 1) % len(classes)]] if len(classes) > 1 else centres[c] + gap
                 for j, c in enumerate(classes)}
    bad = [Record(f"bad-{c}-{i}", (elsewhere[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
           for c in classes for i in range(n)]
    return train, good, bad


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b)


def _heavy_imports_of_describing(kind: str, name: str, plugins: tuple[str, ...]) -> list[str]:
    """Heavy modules a fresh process imports to list every component and describe ``name``."""
    code = ("import json, sys\n"
            "from gda_core.hookspecs import KIND_NAMES\n"
            "from gda_core.host import host\n"
            "[host.components(k) for k in KIND_NAMES]\n"
            f"host.describe({kind!r}, {name!r})\n"
            f"print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))\n")
    env = {**os.environ, "GDA_LOAD_PLUGINS": ",".join(plugins)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode:
        raise AssertionError(f"describing {name} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class _Contract:
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    """The registered name of the component under test."""
    params: ClassVar[dict[str, Any]] = {}
    """Tiny parameters (few steps, small widths): the contract must run in seconds."""
    plugins: ClassVar[tuple[str, ...]] = ()
    """Plugin distributions the component needs (``GDA_LOAD_PLUGINS`` of the describe check)."""
    seed: ClassVar[int] = 0

    def build(self, **extra: Any) -> Any:
        """The component, built as a config would build it (``extra`` overrides ``params``)."""
        return host.create(self.kind, self.name, {**self.params, **extra})

    def context(self, train: Dataset) -> RunContext:
        """The run context the component is given (override to add embedders, a test split...)."""
        return RunContext(train=train, seed=self.seed, quiet=True)

    def test_describing_and_listing_import_nothing_heavy(self) -> None:
        heavy = _heavy_imports_of_describing(self.kind, self.name, self.plugins)
        assert not heavy, f"listing or describing {self.name} imports {', '.join(heavy)}"

    def test_a_device_parameter_comes_from_device_params(self) -> None:
        # by name: the framework never imports the torch helpers (gda_core.torch)
        cls = host.get(self.kind, self.name)
        if "device" in cls.Params.model_fields:
            names = {f"{c.__module__}.{c.__qualname__}" for c in cls.Params.__mro__}
            assert "gda_core.torch.accelerators.DeviceParams" in names, \
                f"{self.name}: declare device through DeviceParams"


class GeneratorContract(_Contract):
    """What every generator does; subclass it with ``name``, ``params`` and :meth:`train_data`.

    Checks: one record per condition, in order, with the condition's label; the same seed gives
    the same samples; ``save_pretrained`` then ``from_pretrained`` gives identical samples and
    keeps the name; generating before fitting is a clear error; describing it imports nothing heavy.
    """

    kind = "generators"
    per_class: ClassVar[int] = 2
    """Conditions per class the contract asks for."""
    needs_fit: ClassVar[bool] = True
    """False for a generator that may augment ``context.train`` unfitted (then generating
    before ``fit`` is not an error)."""

    def train_data(self) -> Dataset:
        """The tiny real training set the generator is fitted on."""
        raise NotImplementedError("a GeneratorContract names its training data: define train_data()")

    def conditions(self, train: Dataset) -> list[dict[str, Any]]:
        """What the contract asks the generator for: ``per_class`` conditions per class, each naming
        a real record of its class (as the default strategy does)."""
        return [{"label": c, "source_id": recs[i % len(recs)].id}
                for c, recs in train.by_class().items() if recs for i in range(self.per_class)]

    def _fitted(self) -> tuple[Any, Dataset, RunContext]:
        cache = type(self).__dict__.get("_gda_fitted")
        if cache is None:
            train = self.train_data()
            ctx = self.context(train)
            gen = self.build()
            gen.fit(train, ctx)
            cache = (gen, train, ctx)
            type(self)._gda_fitted = cache
        return cache

    def test_one_record_per_condition_with_labels_kept(self) -> None:
        gen, train, ctx = self._fitted()
        conds = self.conditions(train)
        out = gen.generate(conds, seed=1, context=ctx)
        assert len(out) == len(conds), f"{self.name}: {len(out)} records for {len(conds)} conditions"
        for cond, rec in zip(conds, out):
            assert isinstance(rec, Record)
            assert label_key(rec.label) == label_key(cond["label"]), f"{self.name}: label not kept"
            if not isinstance(rec.data, str):
                arr = np.asarray(rec.data)
                assert arr.size and np.all(np.isfinite(arr)), f"{self.name}: empty or non-finite sample"

    def test_the_same_seed_gives_the_same_samples(self) -> None:
        gen, train, ctx = self._fitted()
        conds = self.conditions(train)
        first = gen.generate(conds, seed=3, context=ctx)
        again = gen.generate(conds, seed=3, context=ctx)
        assert all(_same(a.data, b.data) for a, b in zip(first, again)), f"{self.name}: not deterministic"

    def test_save_then_load_gives_identical_samples(self, tmp_path: Path) -> None:
        gen, train, ctx = self._fitted()
        gen.save_pretrained(tmp_path / "model")
        loaded = type(gen).from_pretrained(tmp_path / "model")
        assert loaded.name == gen.name == self.name
        conds = self.conditions(train)
        before = gen.generate(conds, seed=5, context=ctx)
        after = loaded.generate(conds, seed=5, context=ctx)
        assert all(_same(a.data, b.data) for a, b in zip(before, after)), f"{self.name}: reload changed samples"

    def test_generating_before_fitting_is_a_clear_error(self) -> None:
        from .errors import GDAError

        if not self.needs_fit:
            return
        _gen, train, ctx = self._fitted()
        try:
            self.build().generate(self.conditions(train)[:1], seed=0, context=ctx)
        except GDAError as exc:
            assert str(exc).strip(), f"{self.name}: empty error message"
        else:
            raise AssertionError(f"{self.name}: generate before fit gave samples instead of an error")


class SelectorContract(_Contract):
    """What every selector does; subclass it with ``name``, ``params`` and :meth:`planted_mix`.

    Checks: ``score`` gives one finite float per record; ``select`` gives a boolean mask of the
    same length; with ``keep=0.5`` (when the selector takes ``keep``) it keeps the better half of
    a planted mix of good and bad samples (at least ``min_good_share`` of what it keeps is good).
    """

    kind = "selectors"
    min_good_share: ClassVar[float] = 1.0

    def planted_mix(self) -> tuple[Dataset, list[Record], list[Record]]:
        """``(train, good, bad)``: real records, synthetic ones the selector should keep, ones it
        should drop. The default: :func:`planted_vectors`."""
        return planted_vectors(seed=self.seed)

    def _scored(self, **extra: Any) -> tuple[Any, list[Record], set[str], np.ndarray, RunContext]:
        train, good, bad = self.planted_mix()
        mix = [r for pair in zip(bad, good) for r in pair]
        ctx = self.context(train)
        sel = self.build(**extra)
        sel.fit(train, ctx)
        return sel, mix, {r.id for r in good}, np.asarray(sel.score(mix, ctx)), ctx

    def test_scores_one_float_per_record(self) -> None:
        _sel, mix, _good, scores, _ctx = self._scored()
        assert scores.shape == (len(mix),), f"{self.name}: {scores.shape} scores for {len(mix)} records"
        assert scores.dtype.kind in "fiu" and np.all(np.isfinite(scores)), f"{self.name}: non-finite scores"

    def test_select_returns_a_boolean_mask(self) -> None:
        sel, mix, _good, scores, ctx = self._scored()
        keep = np.asarray(sel.select(scores, mix, ctx))
        assert keep.dtype == bool and keep.shape == (len(mix),), f"{self.name}: select gave {keep.dtype} {keep.shape}"

    def test_keeps_the_better_half_of_a_planted_mix(self) -> None:
        if "keep" not in host.get(self.kind, self.name).Params.model_fields:
            return  # a selector without a keep fraction has no "half" to keep
        sel, mix, good, scores, ctx = self._scored(keep=0.5)
        kept = [r.id for r, k in zip(mix, np.asarray(sel.select(scores, mix, ctx))) if k]
        assert kept, f"{self.name}: kept nothing of the planted mix"
        share = sum(i in good for i in kept) / len(kept)
        assert share >= self.min_good_share, f"{self.name}: only {share:.0%} of what it kept is good"
