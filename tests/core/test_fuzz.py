"""Fuzzing the config loader, ``--set``, the data loaders and whole runs (hypothesis): random input ends
in a result or in a :class:`~gda_core.errors.GDAError` (one clear line, exit 2), never in any other
exception.

``test_random_runs`` runs the whole pipeline on generated configs over tiny and degenerate data (one
class, one feature, one training record per class, constant or duplicated rows, 2-D samples, test
splits missing a class, a pool, the builtin loaders with k_shot 1) with every core selector,
validator, embedder, pool strategy and classifier and every one of their parameters (an extra
embedder named by a selector or validator, one kept sample across classes), and resumes some runs.
``GDA_FUZZ_RUNS`` sets its number of configs (default 30, about a minute); ``GDA_FUZZ_EXAMPLES`` the
other tests' (default 250). ``benchmarks/fuzz_campaign.py`` draws from the same strategies for
thousands of configs and counts clean errors, correct results and tracebacks instead of stopping at
the first (docs/core.md, "Tested against issue 23").

Each test counts its cases; the last test checks the total and prints the counts
(``pytest tests/core/test_fuzz.py -s``).
"""

from __future__ import annotations

import atexit
import collections
import csv
import io
import json
import os
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
FUZZ = settings(max_examples=int(os.environ.get("GDA_FUZZ_EXAMPLES", "250")), deadline=None, database=None,
                derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                         HealthCheck.data_too_large])
RUNS = int(os.environ.get("GDA_FUZZ_RUNS", "30"))
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


# --- whole runs on tiny and degenerate data --------------------------------------------------------

SELECTORS = ["core.confidence", "core.dedup", "core.near-copy", "core.cluster", "core.balance", "core.topk"]
VALIDATORS = ["core.downstream", "core.prdc", "core.mmd", "core.memorization", "core.projection"]
MODELS = ["logreg", "random-forest", "svm", "knn", "mlp"]
EXTRA_EMBEDDERS = ["core.flatten", "core.pca"]  # listed under `embedders:` for a selector's or validator's `embedder`
REACHED: collections.Counter = collections.Counter()


@st.composite
def tiny_data(draw) -> dict:
    """A description of tiny, often degenerate data: classes, per-class counts, feature shape, values."""
    n_classes = draw(st.sampled_from([1, 1, 2, 2, 2, 3]))
    counts = [draw(st.sampled_from([1, 2, 2, 3, 4, 6, 9])) for _ in range(n_classes)]
    d = draw(st.sampled_from([1, 1, 2, 3, 5]))
    return {
        "counts": counts, "d": d,
        "shape": draw(st.sampled_from(["flat", "flat", "flat", "2d"])),
        "values": draw(st.sampled_from(["normal", "normal", "normal", "constant", "duplicates", "integers",
                                        "huge", "tiny", "one-constant-feature"])),
        "test": draw(st.sampled_from(["split", "file", "file-missing-class", "file-one"])),
        "labels": draw(st.sampled_from(["int", "str", "neg"])),
        "format": draw(st.sampled_from(["npz", "npz", "csv", "csv-pool", "builtin"])),
        "builtin": draw(st.sampled_from(["core.wine", "core.breast-cancer"])),
        "k_shot": draw(st.sampled_from([1, 1, 2, 3])),
        "seed": draw(st.integers(0, 3)),
    }


def _values(spec: dict, counts: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, d = sum(counts), spec["d"] * (2 if spec["shape"] == "2d" else 1)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.normal(size=(n, d)) + 2.0 * y[:, None]
    kind = spec["values"]
    if kind == "constant":
        X = np.zeros((n, d))
    elif kind == "duplicates":
        X = np.repeat(X[:1], n, axis=0) + 2.0 * y[:, None]
    elif kind == "integers":
        X = np.round(X)
    elif kind == "huge":
        X = X * 1e6
    elif kind == "tiny":
        X = X * 1e-8
    elif kind == "one-constant-feature":
        X[:, 0] = 3.0
    if spec["shape"] == "2d":
        X = X.reshape(n, 2, spec["d"])
    return X, y


def _label_names(spec: dict, y: np.ndarray) -> list:
    if spec["labels"] == "str":
        return [f"c{v}" for v in y]
    if spec["labels"] == "neg":
        return [int(v) - 1 for v in y]
    return [int(v) for v in y]


def write_data(spec: dict, folder: Path) -> dict:
    """Write the data ``spec`` describes into ``folder``; return the ``dataset`` config."""
    if spec["format"] == "builtin" and spec["shape"] == "flat":  # a builtin loader, k_shot records per class
        return {"name": spec["builtin"], "params": {"k_shot": spec["k_shot"]}}
    rng = np.random.default_rng(spec["seed"])
    X, y = _values(spec, spec["counts"], rng)
    tcounts = {"split": None, "file": [2] * len(spec["counts"]), "file-one": [1],
               "file-missing-class": [2] * max(1, len(spec["counts"]) - 1)}[spec["test"]]
    Xt, yt = _values(spec, tcounts, rng) if tcounts else (None, None)
    if spec["format"] == "npz" or spec["shape"] == "2d":
        arrays = {"X": X, "y": np.asarray(_label_names(spec, y))}
        if Xt is not None:
            arrays.update(X_test=Xt, y_test=np.asarray(_label_names(spec, yt)))
        np.savez(folder / "d.npz", **arrays)
        return {"name": "core.arrays", "params": {"path": str(folder / "d.npz")}}

    def csv_file(path: Path, X, labels, pool: int = 0) -> None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([*(f"f{i}" for i in range(X.shape[1])), "label"])
        w.writerows([[*map(repr, row.tolist()), lab] for row, lab in zip(X, labels)])
        w.writerows([[*map(repr, (rng.normal(size=X.shape[1]) + 1).tolist()), ""] for _ in range(pool)])
        path.write_text(buf.getvalue())

    csv_file(folder / "train.csv", X, _label_names(spec, y), pool=5 if spec["format"] == "csv-pool" else 0)
    params = {"path": str(folder / "train.csv")}
    if Xt is not None:
        csv_file(folder / "test.csv", Xt, _label_names(spec, yt))
        params["test_path"] = str(folder / "test.csv")
    return {"name": "core.table", "params": params}


def _selector(draw, name: str, earlier: list[str]) -> dict:
    p: dict = {}
    if name in ("core.confidence", "core.cluster", "core.topk") and draw(st.booleans()):
        p["keep"] = draw(st.sampled_from([0.01, 0.3, 0.5, 1.0]))
    if name in ("core.confidence", "core.cluster", "core.topk") and draw(st.integers(0, 2)) == 0:
        p["per_class"] = False
    if name not in ("core.balance", "core.topk") and draw(st.integers(0, 3)) == 0:
        p["embedder"] = draw(st.sampled_from(EXTRA_EMBEDDERS))
    if name == "core.confidence":
        p["threshold"] = draw(st.sampled_from([None, 0.0, 0.5, 0.99]))
        p["model"] = draw(st.sampled_from(MODELS))
    elif name == "core.dedup":
        p["real_ratio"] = draw(st.sampled_from([0.0, 0.1, 1.0]))
        p["self_ratio"] = draw(st.sampled_from([0.0, 0.1, 5.0]))
        if draw(st.integers(0, 3)) == 0:
            p["min_distance"] = draw(st.sampled_from([0.0, 0.5, 1e3]))
    elif name == "core.near-copy":
        p["quantile"] = draw(st.sampled_from([0.01, 0.05, 0.4]))
        p["space"] = draw(st.sampled_from(["embedder", "raw"]))
    elif name == "core.cluster":
        p["n_clusters"] = draw(st.sampled_from([None, 1, 3]))
        p["max_clusters"] = draw(st.sampled_from([1, 2, 256]))
        if "keep" not in p and draw(st.integers(0, 3)) == 0:
            p["keep"], p["threshold"] = None, draw(st.sampled_from([0.0, 1.0]))
    elif name in ("core.balance", "core.topk"):
        by = draw(st.sampled_from([*earlier, "nope"] if earlier and draw(st.integers(0, 5)) else earlier or [None]))
        if name == "core.topk":
            p["by"] = by or "core.confidence"
            p["k"] = draw(st.sampled_from([None, 1, 2]))
            p["lower_is_better"] = draw(st.booleans())
        else:
            p["by"] = by
            p["target"] = draw(st.sampled_from([None, 1, 5]))
    return {"name": name, "params": p}


def _validator(draw, name: str) -> dict:
    p: dict = {}
    if name == "core.downstream":
        p = {"seeds": draw(st.sampled_from([1, 2])), "stages": draw(st.booleans()),
             "synthetic_only": draw(st.booleans()), "baselines": draw(st.booleans())}
    elif name == "core.prdc":
        p = {"k": draw(st.sampled_from([1, 3, 5, 50])), "reference": draw(st.sampled_from(["train", "test"]))}
    elif name == "core.mmd":
        p = {"bandwidth": draw(st.sampled_from([None, 0.5]))}
    elif name == "core.memorization":
        p = {"spaces": draw(st.sampled_from([["embedder"], ["raw"], ["embedder", "raw"], ["raw", "embedder"]])),
             "quantile": draw(st.sampled_from([0.01, 0.05, 0.3])), "ratio": draw(st.sampled_from([0.01, 0.5, 2.0]))}
    elif name == "core.projection":
        p = {"methods": draw(st.sampled_from([["pca"], ["pca"], ["pca"], ["tsne"], ["pca", "tsne"]])),  # t-SNE: slow
             "max_points": draw(st.sampled_from([11, 12, 1000]))}
    if name != "core.downstream" and draw(st.integers(0, 3)) == 0:
        p["embedder"] = draw(st.sampled_from(EXTRA_EMBEDDERS))
    return {"name": name, "params": p}


STRATEGY_CLASSIFIERS = ["logistic", "svm", "label-spreading", "self-training"]


def _strategy(draw, name: str) -> str | dict:
    """A pool strategy with its pseudo-labeller's parameters drawn (core.train has none)."""
    if name == "core.train" or not draw(st.integers(0, 2)):
        return name
    p = {"classifier": draw(st.sampled_from(STRATEGY_CLASSIFIERS)),
         "features": draw(st.sampled_from(["embedder", "raw"])),
         "standardize": draw(st.booleans()), "keep": draw(st.sampled_from([0.01, 0.5, 1.0])),
         "threshold": draw(st.sampled_from([None, 0.0, 0.99])), "per_class": draw(st.booleans()),
         "n_neighbors": draw(st.sampled_from([1, 7, 50]))}
    return {"name": name, "params": p}


@st.composite
def run_configs(draw) -> tuple[dict, dict]:
    """(data spec, config): every part drawn, mostly valid, reaching every core component."""
    spec = draw(tiny_data())
    gen = draw(st.sampled_from(["core.gmm", "core.gmm", "core.kde"]))
    gparams = ({"n_components": draw(st.integers(1, 3)),
                "covariance_type": draw(st.sampled_from(["full", "tied", "diag", "spherical"])),
                "reg_covar": draw(st.sampled_from([1e-6, 1e-3, 1.0])),
                "temperature": draw(st.sampled_from([0.1, 1.0, 3.0]))}
               if gen == "core.gmm" else {"bandwidth": draw(st.sampled_from([None, 0.1, 2.0]))})
    count = draw(st.sampled_from(["per_class", "n", "ratio"]))
    generate = {count: draw(st.integers(1, 5)) if count != "ratio" else draw(st.sampled_from([0.5, 1.0, 2.0])),
                "shard_size": draw(st.integers(1, 8))}
    names = draw(st.lists(st.sampled_from(SELECTORS), max_size=3))
    if "core.topk" in names and "core.confidence" not in names[:names.index("core.topk")] and draw(st.integers(0, 3)):
        names.insert(names.index("core.topk"), "core.confidence")  # mostly a score to rank by
    selectors = []
    for i, name in enumerate(names):
        selectors.append(_selector(draw, name, [n for n in names[:i]]))
    vnames = draw(st.lists(st.sampled_from(VALIDATORS), min_size=1, max_size=5, unique=True))
    validators = [_validator(draw, n) for n in vnames]
    pool = spec["format"] == "csv-pool" and spec["shape"] == "flat"
    strategy = _strategy(draw, draw(st.sampled_from(["core.train"] * (2 if pool else 12)
                                                    + ["core.pseudo-label", "core.pretrain-finetune"])))
    embedder = draw(st.sampled_from(["core.flatten", "core.standardize", "core.pca"]))
    used = {c["params"].get("embedder") for c in [*selectors, *validators]} - {None, embedder}
    cfg = {
        "seed": spec["seed"], "test_size": draw(st.sampled_from([0.2, 0.3, 0.5])),
        "generator": {"name": gen, "params": gparams}, "strategy": strategy, "generate": generate,
        "selectors": selectors, "validators": validators,
        "application": {"name": "core.classification", "params": {
            "model": draw(st.sampled_from(MODELS)), "features": draw(st.sampled_from(["raw", "embedder"])),
            "standardize": draw(st.booleans())}},
        "embedder": embedder if embedder != "core.pca" else {"name": "core.pca",
                                                             "params": {"n_components": draw(st.integers(1, 4))}},
        "baselines": draw(st.sampled_from([[], [], ["core.kde"], [{"name": "core.gmm",
                                                                   "params": {"n_components": 1}}]])),
    }
    if used:  # the extra embedders named by a selector or validator
        cfg["embedders"] = [e if e != "core.pca" else {"name": "core.pca", "params": {"n_components": 1}}
                            for e in sorted(used)]
    return spec, cfg


def one_run(case: tuple[dict, dict], resume: int, scratch: Path = SCRATCH) -> None:
    """A whole run (and, for some, `gda validate` and `gda select` again) of one drawn config; raises
    what the run raised. What it reached goes into ``REACHED``."""
    from gda_core import pipeline, runfolder

    spec, cfg = case
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    try:
        cfg = {**cfg, "dataset": write_data(spec, folder)}
        out = folder / "run"
        res = pipeline.run(cfg, out, quiet=True)
        assert set(runfolder.read_marker(out)["steps"]) == {"fit", "generate", "select", "validate"}
        assert (out / "report.md").is_file() and json.loads((out / "validation.json").read_text()) is not None
        for name, result in res.results.items():
            REACHED[name] += 1
            if any(n.startswith("not applicable") for n in result.notes):
                REACHED[f"{name}: not applicable"] += 1
        for sel in cfg["selectors"]:
            REACHED[sel["name"]] += 1
        strategy = cfg["strategy"] if isinstance(cfg["strategy"], str) else cfg["strategy"]["name"]
        REACHED[strategy] += 1
        REACHED[f"application {cfg['application']['params']['model']}"] += 1
        REACHED["kept none"] += not res.kept
        REACHED["kept one"] += len(res.kept) == 1
        REACHED["one class"] += len(res.train.classes) == 1
        REACHED["1-D features"] += spec["d"] == 1 and spec["shape"] == "flat" and spec["format"] != "builtin"
        REACHED["builtin loader"] += spec["format"] == "builtin" and spec["shape"] == "flat"
        if resume == 0:
            pipeline.step(out, "validate", quiet=True)
        elif resume == 1:
            pipeline.step(out, "select", quiet=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(FUZZ, max_examples=RUNS)
@given(run_configs(), st.integers(0, 3))
def test_random_runs(case, resume):
    """A whole run on tiny degenerate data: a result, or one clear line; a validator that cannot
    apply says so in the report."""
    attempt("run", lambda: one_run(case, resume))


def test_zz_fuzz_counts():
    """At least 1000 cases in all, and no exception other than a GDAError (the tests above would fail)."""
    kinds = {"config mapping", "config file", "--set", "csv table", "array file", "step --set", "run"}
    if set(COUNTS) != kinds:
        pytest.skip("run the whole file to count")
    total = sum(sum(c.values()) for c in COUNTS.values())
    clear = sum(c["clear error"] for c in COUNTS.values())
    print(f"\nfuzz: {total} cases, {clear} clear errors, {total - clear} accepted, 0 tracebacks")
    for kind, c in sorted(COUNTS.items()):
        print(f"  {kind}: {dict(c)}")
    print(f"  runs that reached each validator: {dict(sorted(REACHED.items()))}")
    assert total >= 1000
    assert all(c["clear error"] for c in COUNTS.values())  # every kind reached its error paths
    if RUNS >= 30:  # finished runs reached every core validator, and the application through core.downstream
        assert all(REACHED[name] for name in VALIDATORS), REACHED
        assert REACHED["one class"] and REACHED["1-D features"] and REACHED["kept none"], REACHED
