"""Fuzzing the config loader, ``--set`` and the data loaders (hypothesis): random input ends in a result
or in a :class:`~gda_core.errors.GDAError` (one clear line, exit 2), never in any other exception.

Each test counts its cases; the last test checks the total and prints the counts
(``pytest tests/core/test_fuzz.py -s``).
"""

from __future__ import annotations

import atexit
import collections
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gda_core.config import apply_overrides, load_yaml, resolve
from gda_core.errors import GDAError
from gda_core.pipeline import Pipeline

from .helpers import small_config

COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FUZZ = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SCRATCH = Path(tempfile.mkdtemp(prefix="gda-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def attempt(kind: str, fn) -> None:
    """Run ``fn``; count a result or a clear GDAError. Any other exception fails the test (a traceback)."""
    try:
        fn()
    except GDAError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), f"not one line: {exc}"
        COUNTS[kind]["clear error"] += 1
    else:
        COUNTS[kind]["accepted"] += 1


KEYS = ["seed", "output", "test_size", "dataset", "generator", "strategy", "generate", "selectors", "validators",
        "baselines", "application", "embedder", "embedders", "name", "params", "per_class", "n", "ratio",
        "shard_size", "k_shot", "n_components", "covariance_type", "reg_covar", "temperature", "keep", "threshold",
        "path", "bandwidth", "seeds", "embedder", "core.gmm", "core.kde", "core.wine", "core.dedup", "core.prdc"]
NAMES = ["core.gmm", "core.kde", "core.wine", "core.breast_cancer", "core.table", "core.arrays", "core.train",
         "core.pretrained", "core.dedup", "core.confidence", "core.prdc", "core.mmd", "core.downstream",
         "core.flatten", "core.standardize", "core.pca", "core.classification", "core.gm", "nope.thing"]
scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
           | st.sampled_from(NAMES) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5),
                      max_leaves=20)
random_configs = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
LEAVES = [("seed",), ("test_size",), ("generate", "per_class"), ("generate", "shard_size"), ("generator", "name"),
          ("generator", "params", "n_components"), ("generator", "params", "temperature"),
          ("generator", "params", "covariance_type"), ("dataset", "params", "k_shot"), ("dataset", "name"),
          ("embedder",), ("selectors",), ("validators",), ("generate",), ("generator", "params", "extra")]
leaf_values = (st.integers(-3, 40) | st.floats(-1, 3) | st.sampled_from(NAMES) | st.none() | st.booleans()
               | st.sampled_from(["full", "tied", "diag", "spherical", "1", [], {}, ["core.dedup"], {"per_class": 2}]))


@st.composite
def mutated_configs(draw) -> dict:
    """The small test config with one to three leaves replaced: mostly valid, sometimes not."""
    cfg = small_config()
    for _ in range(draw(st.integers(1, 3))):
        *head, last = draw(st.sampled_from(LEAVES))
        node = cfg
        for part in head:
            if not isinstance(node.get(part), dict):
                node[part] = {"name": node[part]} if isinstance(node.get(part), str) else {}
            node = node[part]
        node[last] = draw(leaf_values)
    return cfg


configs = mutated_configs() | random_configs


@FUZZ
@given(configs)
def test_random_config_mappings(data):
    attempt("config mapping", lambda: resolve(data))


@FUZZ
@given(st.text(max_size=200) | configs.map(lambda d: yaml.safe_dump(d, allow_unicode=True))
       | st.binary(max_size=120).map(lambda b: b.decode("latin-1")))
def test_random_config_files(text):
    path = SCRATCH / "config.yaml"

    def go():
        path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        resolve(load_yaml(path))

    attempt("config file", go)


PATHS = ["seed", "generate.per_class", "generate.n", "generate.ratio", "generate.shard_size", "generator",
         "generator.params.n_components", "generator.params.temperature", "generator.name", "selectors.0",
         "selectors.0.params.keep", "selectors.5.params", "validators.0.params.seeds", "dataset.params.k_shot",
         "embedders.0", "test_size", "output", "generate", "generator.params", "seed.x", "", ".", "a..b"]
overrides = st.tuples(st.sampled_from(PATHS) | st.text(alphabet=string.ascii_letters + "._0123456789", max_size=20),
                      st.sampled_from(["=", "", "=="]),
                      st.text(max_size=20) | st.sampled_from(["1", "-3", "0.5", "1e400", "[1, 2]", "{a: 1}", "null",
                                                              "core.kde", "'x", "[", "{", "!!python/name:os.system"])
                      ).map("".join)


valid_sets = st.one_of(
    st.integers(-2, 60).map(lambda v: f"generate.per_class={v}"),
    st.floats(-0.5, 3, allow_nan=False).map(lambda v: f"generator.params.temperature={v}"),
    st.floats(-0.5, 1.5, allow_nan=False).map(lambda v: f"selectors.0.params.threshold={v}"),
    st.integers(-1, 10**6).map(lambda v: f"seed={v}"),
    st.sampled_from(NAMES).map(lambda v: f"generator={v}"),
    st.sampled_from(NAMES).map(lambda v: f"selectors.1={v}"),
    st.integers(-1, 9).map(lambda v: f"generator.params.n_components={v}"),
    st.floats(0, 1).map(lambda v: f"test_size={v}"))


@FUZZ
@given(st.lists(valid_sets | overrides, min_size=1, max_size=3))
def test_random_set_overrides(items):
    base = small_config()
    attempt("--set", lambda: resolve(apply_overrides(base, items)))


cells = (st.integers(-1000, 1000).map(str) | st.floats(allow_nan=True, allow_infinity=True).map(repr)
         | st.sampled_from(["", " ", "nan", "inf", "1e999", "0x10", "1_000", "١٢", "NaN", "-", "\"", "a,b", "\n"])
         | st.text(max_size=6))


@st.composite
def tables(draw) -> bytes:
    if draw(st.integers(0, 2)):  # mostly a well-formed header, to reach the cells and the checks after them
        names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "x"]), min_size=1, max_size=4, unique=True))
        names.insert(draw(st.integers(0, len(names))), "label")
    else:
        names = draw(st.lists(st.sampled_from(["a", "b", "c", "label", "x", ""]) | st.text(max_size=4),
                              min_size=0, max_size=5))
    n = draw(st.integers(0, 24))
    width = len(names)
    rows = []
    clean = draw(st.booleans())  # half the tables hold only numbers, to reach the checks after the cells
    for i in range(n):
        w = width if clean or draw(st.integers(0, 9)) else draw(st.integers(0, width + 2))
        if clean or draw(st.integers(0, 3)):
            row = [str(draw(st.integers(-5, 5))) for _ in range(w)]
            if names and "label" in names and w == width:
                row[names.index("label")] = str(i % draw(st.integers(1, 3)))
            if row and not clean and not draw(st.integers(0, 4)):
                row[draw(st.integers(0, len(row) - 1))] = draw(cells)
        else:
            row = [draw(cells) for _ in range(w)]
        rows.append(row)
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows([names, *rows])
    data = buf.getvalue().encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = "\ufeff".encode() + data
    if not clean and not draw(st.integers(0, 4)):
        data = draw(st.binary(max_size=60))
    return data


def _load(cfg: dict) -> None:
    """What the pipeline does before touching a folder: resolve, load and check the data, precheck."""
    pipe = Pipeline(resolve(cfg), SCRATCH / "never-created")
    pipe.load_data()
    pipe.precheck()
    assert not (SCRATCH / "never-created").exists()


@FUZZ
@given(tables(), st.sampled_from([{}, {"feature_columns": ["a"]}, {"label_column": "x"}]),
       st.sampled_from(["core.gmm", "core.kde"]))
def test_random_csv_tables(data, params, generator):
    path = SCRATCH / "t.csv"
    path.write_bytes(data)
    cfg = small_config(dataset={"name": "core.table", "params": {"path": str(path), **params}},
                       generator=generator, generate={"per_class": 3})
    attempt("csv table", lambda: _load(cfg))


dtypes = st.sampled_from(["float32", "float64", "float32", "int64", "uint8", "bool", "complex64", "<U3", "float16"])


@FUZZ
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), dtypes, st.integers(0, 30), st.integers(0, 12),
       st.sampled_from(["y", "y", "y", "Y", "X_test"]), st.integers(0, 4).map(bool), st.binary(max_size=40))
def test_random_array_files(shape, dtype, n, n_labels, label_key, good_file, garbage):
    path = SCRATCH / "d.npz"
    rng = np.random.default_rng(n * 31 + n_labels)
    if good_file:
        X = (rng.normal(size=(n, *shape)) * 3).astype(dtype)
        y = rng.integers(0, 3, size=n if n_labels % 4 else n_labels)
        np.savez(path, X=X, **{label_key: y})
    else:
        path.write_bytes(garbage)
    cfg = small_config(dataset={"name": "core.arrays", "params": {"path": str(path)}}, generate={"n": 4})
    attempt("array file", lambda: _load(cfg))


STEP_FOLDER = SCRATCH / "steps"


@settings(FUZZ, max_examples=40)
@given(st.sampled_from(["generate", "select", "validate"]), st.lists(valid_sets | overrides, min_size=1, max_size=2))
def test_random_set_on_a_run_folder(step, items):
    """``gda <step> RUN --set ...``: a result or a clear error, and the folder stays consistent after either."""
    from gda_core import pipeline, runfolder

    if not STEP_FOLDER.exists():
        pipeline.run(small_config(selectors=["core.dedup"], validators=["core.prdc"]), STEP_FOLDER, quiet=True)
    attempt("step --set", lambda: pipeline.step(STEP_FOLDER, step, quiet=True, overrides=items))
    done = runfolder.read_marker(STEP_FOLDER)["steps"]
    if "select" in done:  # whatever happened, a finished selection still matches its shards and manifest
        pipe = pipeline.open_run(STEP_FOLDER, quiet=True)
        pipe.load_generated()
        pipe.load_selection()


def test_zz_fuzz_counts():
    """At least 1000 cases in all, and no exception other than a GDAError (the tests above would fail)."""
    kinds = {"config mapping", "config file", "--set", "csv table", "array file", "step --set"}
    if set(COUNTS) != kinds:
        pytest.skip("run the whole file to count")
    total = sum(sum(c.values()) for c in COUNTS.values())
    clear = sum(c["clear error"] for c in COUNTS.values())
    print(f"\nfuzz: {total} cases, {clear} clear errors, {total - clear} accepted, 0 tracebacks")
    for kind, c in sorted(COUNTS.items()):
        print(f"  {kind}: {dict(c)}")
    assert total >= 1000
    assert all(c["clear error"] for c in COUNTS.values())  # every kind reached its error paths
