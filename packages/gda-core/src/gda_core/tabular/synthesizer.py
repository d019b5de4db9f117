"""What ``core.ctgan`` and ``core.tvae`` share: SDV's ``ctgan`` library fitted on GDA's vector
records, class conditioning, and a pickle-free saved state.

The library trains (its own loop, seeded with ``set_random_state``) and GDA keeps, from the fitted
synthesizer, only what sampling needs:

- the network that maps noise to a row in the library's encoded space (CTGAN's generator, TVAE's
  decoder), saved as safetensors;
- the encoding's fitted state, saved as JSON: per continuous column the means and standard
  deviations of the valid components of its Bayesian mixture (rdt's ``ClusterBasedNormalizer``),
  per discrete column its categories, and the span layout of the encoded row. Decoding a row from
  these numbers is what the library's ``DataTransformer.inverse_transform`` does (a test checks
  that both agree), so neither the library's ``torch.save`` pickle nor rdt objects are stored.

Class conditioning (``conditioning``):

``per-class`` (the default)
    One synthesizer per class, fitted on that class's rows alone; every sample of a class comes
    from its own model, so it has the asked class by construction.
``label-column``
    One synthesizer for every class, with the label as one more discrete column. CTGAN samples
    with the class's conditional vector (its training-by-sampling conditioning, ``condition_column``
    / ``condition_value`` of ``CTGAN.sample``), TVAE unconditionally; in both, rows whose generated
    label is not the asked class are dropped and sampling continues (at most ``max_tries`` rounds).

On small tables per-class wins by far (docs/core.md, "CTGAN and TVAE: one model or one per class",
measured by ``benchmarks/bench_tabular_conditioning.py``): one model does not learn the label from a
few rows per class, and its rows carry the asked label at about the class's base rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, DataError, GDAError
from gda_core.records import Record, label_key
from gda_core.torch.accelerators import DeviceParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset

STATE_FILE = "tabular_state.json"
WEIGHTS_FILE = "tabular_weights.safetensors"
LABEL_COLUMN = "__gda_label__"
EXTRA = "pip install 'gda-core[tabular]'"


class TabularParams(DeviceParams):
    """Parameters shared by ``core.ctgan`` and ``core.tvae``."""

    conditioning: Literal["per-class", "label-column"] = Field(
        "per-class", description="per-class: one synthesizer per class (every sample has its class by "
        "construction; the measured better choice for small tables, docs/core.md); label-column: one "
        "synthesizer with the label as a discrete column, conditional sampling, rows of another class dropped")
    discrete_columns: list[int | str] = Field(
        [], description="feature columns holding categories (index, or feature name where the data set "
        "names its features); the others are continuous")
    epochs: int = Field(300, gt=0, description="training epochs (the library's; an epoch is max(1, rows // "
                        "batch_size) steps, so a small table trains epochs steps)")
    batch_size: int = Field(500, gt=1, description="training batch (rows drawn from the table; even, and a "
                            "multiple of pac for CTGAN)")
    embedding_dim: int = Field(128, gt=0, description="size of the noise (CTGAN) or latent (TVAE) vector")
    max_tries: int = Field(50, gt=0, description="label-column conditioning: sampling rounds of batch_size "
                           "rows per class before giving up on rows of the asked class", json_schema_extra=SAMPLING)

    @field_validator("discrete_columns")
    @classmethod
    def _unique(cls, v: list[int | str]) -> list[int | str]:
        if len(set(map(str, v))) != len(v):
            raise ValueError(f"columns repeat: {v}")
        return v


def _require_library() -> None:
    try:
        import ctgan  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"core.ctgan and core.tvae need SDV's ctgan library and safetensors: {EXTRA} "
                          f"({exc})") from exc


def encoding_state(transformer: Any) -> dict[str, Any]:
    """The fitted state of a ctgan ``DataTransformer`` that decoding needs, as plain JSON-able
    numbers: per column its kind and numbers (see the module docstring), and the span layout."""
    columns = []
    for info in transformer._column_transform_info_list:
        tr = info.transform
        if info.column_type == "continuous":
            valid = np.asarray(tr.valid_component_indicator, dtype=bool)
            means = np.asarray(tr._bgm_transformer.means_, dtype=np.float64).reshape(-1)[valid]
            stds = np.sqrt(np.asarray(tr._bgm_transformer.covariances_, dtype=np.float64)).reshape(-1)[valid]
            columns.append({"name": info.column_name, "type": "continuous", "means": means.tolist(),
                            "stds": stds.tolist(), "multiplier": float(tr.STD_MULTIPLIER)})
        else:
            columns.append({"name": info.column_name, "type": "discrete",
                            "categories": [_plain(c) for c in tr.dummies]})
    spans = [[[int(s.dim), str(s.activation_fn)] for s in col] for col in transformer.output_info_list]
    return {"columns": columns, "spans": spans, "dim": int(transformer.output_dimensions)}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def decode(rows: np.ndarray, encoding: dict[str, Any], noise: np.ndarray | None = None) -> list[np.ndarray]:
    """Rows of the encoded space ``(n, dim)`` back to one array per column, as the library's
    ``DataTransformer.inverse_transform`` does: a continuous column's value is its tanh part times
    ``multiplier`` standard deviations of the component its softmax part picks, plus that
    component's mean; a discrete column's category is its softmax part's argmax. ``noise``
    ``(n, dim)`` is added to the tanh parts first (TVAE's per-column sigmas)."""
    out = []
    st = 0
    for col in encoding["columns"]:
        if col["type"] == "continuous":
            k = len(col["means"])
            value = rows[:, st] if noise is None else rows[:, st] + noise[:, st]
            comp = np.argmax(rows[:, st + 1:st + 1 + k], axis=1)
            means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
            out.append(np.clip(value, -1, 1) * col["multiplier"] * stds[comp] + means[comp])
            st += 1 + k
        else:
            cats = np.asarray(col["categories"], dtype=object)
            k = len(cats)
            out.append(cats[np.argmax(rows[:, st:st + k], axis=1)])
            st += k
    return out


class TabularSynthesizer(Generator):
    """Base of ``core.ctgan`` and ``core.tvae`` (see the module docstring).

    A subclass names its library class (``library_class``), builds it (:meth:`_build`), takes the
    sampling network and its extra state from the fitted synthesizer (:meth:`_export`), rebuilds the
    network from saved state (:meth:`_network`) and samples encoded rows (:meth:`_sample_rows`).
    """

    Params = TabularParams
    version = "1"
    min_class_size = 2  # the library's Bayesian mixture per column needs two rows
    who: ClassVar[str] = ""

    # -- to implement -------------------------------------------------------------

    def _build(self, seed: int) -> Any:
        raise NotImplementedError

    def _export(self, model: Any, encoding: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """``(network, extra state)`` of a fitted library model; the network samples encoded rows."""
        raise NotImplementedError

    def _network(self, state: dict[str, Any]) -> Any:
        """An untrained sampling network shaped by a model's saved ``state``."""
        raise NotImplementedError

    def _sample_rows(self, net: Any, state: dict[str, Any], n: int, cond: int | None, g: Any) -> tuple[Any, Any]:
        """``(rows, noise)``: ``n`` encoded rows (numpy) from ``net`` (with conditional-vector
        index ``cond`` for a label-column CTGAN), and the tanh-part noise for :func:`decode` or None;
        all randomness from the torch generator ``g``."""
        raise NotImplementedError

    # -- data -----------------------------------------------------------------------

    def _columns(self, train) -> tuple[list[str], list[str]]:
        """Feature column names (``x0``...) and the discrete ones, from ``discrete_columns``."""
        d = int(np.asarray(train.records[0].data).size)
        names = [f"x{i}" for i in range(d)]
        known = [str(n) for n in (train.meta or {}).get("feature_names") or []]
        discrete = []
        for c in self.params.discrete_columns:
            if isinstance(c, int):
                if not 0 <= c < d:
                    raise ConfigError(f"generator.params.discrete_columns: column {c} is not among the {d} features")
                discrete.append(names[c])
            elif c in known and len(known) == d:
                discrete.append(names[known.index(c)])
            else:
                raise ConfigError(f"generator.params.discrete_columns: no feature named {c!r}"
                                  + (f" (features: {', '.join(known)})" if known else " (the data set names none)"))
        return names, discrete

    def _frame(self, records, names: list[str], label: str | None = None) -> Any:
        import pandas as pd

        X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in records])
        if not np.all(np.isfinite(X)):
            raise DataError(f"{self.who}: the training rows hold NaN or infinite values; the library needs finite ones")
        df = pd.DataFrame(X, columns=names)
        if label is not None:
            df[LABEL_COLUMN] = [f"class{self.index_[label_key(r.label)]}" for r in records]
        return df

    # -- fitting ----------------------------------------------------------------------

    def fit(self, train: Dataset, context: RunContext) -> None:
        from joblib import parallel_config

        from gda_core.torch.accelerators import apply_thread_setting

        _require_library()
        if len(train) == 0:
            raise DataError(f"{self.who}: the training set is empty")
        apply_thread_setting()
        by_class = {k: v for k, v in train.by_class().items() if v}
        if any(r.label is None for r in train.records):
            raise DataError(f"{self.who}: every training row needs a label (this generator is class-conditional)")
        self.classes_ = [recs[0].label for recs in by_class.values()]
        self.index_ = {label_key(c): i for i, c in enumerate(self.classes_)}
        self.shape_ = list(np.asarray(train.records[0].data).shape)
        names, discrete = self._columns(train)
        if self.params.conditioning == "per-class":
            groups = [(self.index_[label_key(recs[0].label)], recs) for recs in by_class.values()]
        else:
            groups = [(None, list(train.records))]
        self.models_: list[dict[str, Any]] = []
        self.nets_: list[Any] = []
        # the library's encoder goes parallel (joblib processes, unseeded) past 500 rows: keep it in-process
        with parallel_config(backend="sequential"):
            for cls_index, recs in context.progress(groups, desc=f"{self.who} fit", total=len(groups)):
                seed = int(np.random.SeedSequence([int(context.seed), 10**6 if cls_index is None else cls_index])
                           .generate_state(1)[0] % (2**31 - 1))
                df = self._frame(recs, names, None if cls_index is not None else LABEL_COLUMN)
                cols = discrete if cls_index is not None else [*discrete, LABEL_COLUMN]
                model = self._build(seed)
                model.fit(df, discrete_columns=cols)
                encoding = encoding_state(model._transformer if hasattr(model, "_transformer") else model.transformer)
                net, extra = self._export(model, encoding)
                self.models_.append({"class": cls_index, "encoding": encoding, **extra})
                self.nets_.append(net)

    # -- sampling -------------------------------------------------------------------------

    def _label_position(self, state: dict[str, Any], cls_index: int) -> tuple[int, int]:
        """(column, category) of ``cls_index`` in a label-column model's encoding."""
        columns = state["encoding"]["columns"]
        col = next(i for i, c in enumerate(columns) if c["name"] == LABEL_COLUMN)
        return col, columns[col]["categories"].index(f"class{cls_index}")

    def _draw(self, cls_index: int, n: int, seed: int) -> np.ndarray:
        """``n`` feature rows ``(n, d)`` of class ``cls_index``, deterministic given ``seed``."""
        from gda_core.torch.accelerators import torch_generator

        g = torch_generator(int(np.random.SeedSequence([int(seed), cls_index]).generate_state(1)[0]))
        per_class = self.params.conditioning == "per-class"
        j = next(i for i, m in enumerate(self.models_) if m["class"] == (cls_index if per_class else None))
        state, net = self.models_[j], self.nets_[j]
        if per_class:
            rows, noise = self._sample_rows(net, state, n, None, g)
            return np.stack(decode(rows, state["encoding"], noise), axis=1).astype(np.float64)
        col, cat = self._label_position(state, cls_index)
        got: list[np.ndarray] = []
        have = 0
        b = self.params.batch_size
        for _ in range(self.params.max_tries * max(1, int(np.ceil(n / b)))):
            rows, noise = self._sample_rows(net, state, b, cat, g)
            parts = decode(rows, state["encoding"], noise)
            keep = parts[col] == f"class{cls_index}"
            if keep.any():
                feats = np.stack([p for i, p in enumerate(parts) if i != col], axis=1)[keep].astype(np.float64)
                got.append(feats)
                have += len(feats)
            if have >= n:
                return np.concatenate(got)[:n]
        raise GDAError(f"{self.who}: after {self.params.max_tries} rounds only {have} of {n} sampled rows had the "
                       f"asked class {self.classes_[cls_index]!r}; use generator.params.conditioning: per-class, "
                       "or raise generator.params.max_tries")

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("models_")
        keys = [label_key(c.get("label")) for c in conditions]
        for key, cond in zip(keys, conditions):
            if key not in self.index_:
                raise DataError(f"{self.who} was not fitted on class {cond.get('label')!r} (classes: {self.classes_})")
        data: list[np.ndarray | None] = [None] * len(conditions)
        for key in dict.fromkeys(keys):  # classes in order of first appearance: deterministic
            idx = [i for i, k in enumerate(keys) if k == key]
            rows = self._draw(self.index_[key], len(idx), seed)
            for i, x in zip(idx, rows):
                data[i] = np.asarray(x, dtype=np.float32).reshape(self.shape_)
        return [Record(id="", data=x, label=self.classes_[self.index_[k]]) for x, k in zip(data, keys)]

    # -- persistence ------------------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        from safetensors.torch import save_file

        self._require_fitted("models_", action="save")
        tensors = {f"model{j}.{k}": v.detach().cpu().contiguous() for j, net in enumerate(self.nets_)
                   for k, v in net.state_dict().items()}
        save_file(tensors, str(Path(path) / WEIGHTS_FILE))
        state = {"classes": self.classes_, "shape": self.shape_, "models": self.models_}
        (Path(path) / STATE_FILE).write_text(json.dumps(state, indent=1))

    def load_state(self, path: Path) -> None:
        from safetensors.torch import load_file

        _require_library()
        path = Path(path)
        if not (path / STATE_FILE).is_file():
            raise GDAError(f"{path} holds no {self.who} state ({STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        self.classes_, self.shape_ = state["classes"], state["shape"]
        self.index_ = {label_key(c): i for i, c in enumerate(self.classes_)}
        self.models_ = state["models"]
        tensors = load_file(str(path / WEIGHTS_FILE))
        self.nets_ = []
        for j, m in enumerate(self.models_):
            net = self._network(m)
            prefix = f"model{j}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            self.nets_.append(net.to(self._device()))

    def _device(self) -> Any:
        from gda_core.torch.accelerators import pick_device

        return pick_device(self.params.device)
