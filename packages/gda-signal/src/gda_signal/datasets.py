"""Signal data sets: aeon's shipped UCR/UEA archives, numpy arrays, folders of WAV files.

Every record holds a float32 array ``(channels, length)``. Ragged lengths, NaNs and
wrong sampling rates raise :class:`~gda_core.errors.DataError` unless a fix is
configured explicitly (``on_length_mismatch``, ``on_nan``, ``on_rate_mismatch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset, Record
from gda_core.splits import class_folders, k_shot, k_shot_with_pool, split_train_test

from ._util import LengthFix, NanFix, as_signal, fix_length, fix_nan, plain

if TYPE_CHECKING:
    from gda_core.context import RunContext

UCR_SHIPPED = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels", "OSULeaf",
               "ACSF1", "PickupGestureWiimoteZ", "UnitTest")


class _SignalLoader(DatasetLoader):
    """Shared cleaning (length and NaN fixes) and NPY output."""

    modality = "signal"

    def _clean(self, series: list[Any], labels: list[Any], prefix: str, length: int | None,
               meta: dict[str, Any] | None = None,
               names: list[str] | None = None) -> tuple[list[np.ndarray], list[Any]]:
        """Apply the NaN and length fixes; ``names`` (a file per series) make every error name its file."""
        p = self.params
        wheres = names or [f"{prefix} sample {i}" for i in range(len(series))]
        xs = [as_signal(x, where=wheres[i]) for i, x in enumerate(series)]
        if not xs:
            return [], []
        target = length or (xs[0].shape[-1] if len({x.shape[-1] for x in xs}) == 1 else None)
        if target is None:
            lengths = sorted({x.shape[-1] for x in xs})
            if p.on_length_mismatch == "error":
                common = max(lengths, key=[x.shape[-1] for x in xs].count)
                odd = [f"{wheres[i]} ({x.shape[-1]})" for i, x in enumerate(xs) if x.shape[-1] != common]
                shown = ", ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
                raise DataError(f"{prefix}: series have ragged lengths: most have {common} samples, but {shown};"
                                " set length and on_length_mismatch (pad, crop, pad-or-crop, resample)")
            target = max(lengths) if p.on_length_mismatch in ("pad", "pad-or-crop", "resample") else min(lengths)
        chans = [x.shape[0] for x in xs]
        if len(set(chans)) > 1:
            odd = next(i for i, c in enumerate(chans) if c != chans[0])
            raise DataError(f"{prefix}: series have different channel counts {sorted(set(chans))} "
                            f"({wheres[0]}: {chans[0]}, {wheres[odd]}: {chans[odd]})")
        out_x, out_y = [], []
        for i, (x, y) in enumerate(zip(xs, labels)):
            where = wheres[i]
            x = fix_nan(x, p.on_nan, where=where)
            if x is None:
                continue
            out_x.append(fix_length(x, target, p.on_length_mismatch, where=where).astype(np.float32))
            out_y.append(plain(y))
        if not out_x:
            raise DataError(f"{prefix}: no sample left after dropping those with NaNs")
        return out_x, out_y

    def _dataset(self, xs: list[np.ndarray], ys: list[Any], prefix: str, classes: list[Any],
                 meta: dict[str, Any] | None = None) -> Dataset:
        recs = [Record(id=f"{prefix}-{i:05d}", data=x, label=y, meta=dict(meta or {}))
                for i, (x, y) in enumerate(zip(xs, ys))]
        return Dataset(recs, modality=self.modality, classes=classes, meta=dict(meta or {}))

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        out = stem.with_suffix(".npy")
        np.save(out, as_signal(record.data), allow_pickle=False)
        return out

    def _few_shot(self, train: Dataset, test: Dataset | None, seed: int) -> DataSplits:
        """Hold out ``test_size`` first when there is no test split, keep ``k_shot`` per class, and
        offer the other training series as the unlabelled pool (``pool``); a pool never holds a test
        record."""
        p = self.params
        if p.k_shot is None:
            return DataSplits(train, test)
        if test is None:  # the pipeline would hold out test records from the k-shot set (and the pool)
            train, test = split_train_test(train, p.test_size, seed)
        if not p.pool:
            return DataSplits(k_shot(train, p.k_shot, seed), test)
        labelled, pool = k_shot_with_pool(train, p.k_shot, seed)
        return DataSplits(labelled, test, pool if len(pool) else None)

    def preview(self, real, kept):
        """Per class, real series beside kept synthetic ones: waveforms (every channel), or
        spectrograms for audio."""
        from gda_core.previews import sample_grid

        rate = getattr(self.params, "sample_rate", None)

        def draw(ax, record: Record) -> None:
            x = as_signal(record.data)
            if self.modality == "audio" and rate and x.shape[-1] >= 256:
                ax.specgram(x[0], NFFT=256, Fs=rate, noverlap=192, cmap="magma")
            else:
                for ch in x[:3]:
                    ax.plot(ch, linewidth=0.8)

        kind = "Spectrograms" if self.modality == "audio" else "Series"
        return sample_grid(real, kept, draw, title=f"{kind}: real beside kept synthetic, per class",
                           cell=(1.6, 1.0))


class FixParams(Params):
    length: int | None = Field(None, gt=1, description="series length after the length fix (default: the data's)")
    on_length_mismatch: LengthFix = Field(
        "error", description="ragged or wrong lengths: error, pad (zeros), crop, pad-or-crop, resample (linear)")
    on_nan: NanFix = Field("error", description="NaN/inf values: error, zero, interpolate (linear), drop the sample")
    pool: bool = Field(True, description="with k_shot, the other training series form the unlabelled pool "
                       "(labels hidden; never a test record)")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share, drawn before the k-shot subset, when "
                             "k_shot is set and the data have no test split")


class UCRParams(FixParams):
    name: str = Field("GunPoint", description=f"a UCR/UEA set that aeon ships: {', '.join(UCR_SHIPPED)}")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training series per class")
    normalize: bool = Field(False, description="z-normalise each series and channel")


class UCRDataset(_SignalLoader):
    """A UCR/UEA time-series classification set shipped inside aeon, with its train/test split.

    GunPoint (2 classes, 50 train / 150 test, length 150) is the default; univariate
    and multivariate sets (BasicMotions: 6 channels) load the same way.
    """

    Params = UCRParams
    pool_hint = ("set dataset.params.k_shot: the training series beyond it form the pool (with pool: true, the "
                 "default)")

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        if p.name not in UCR_SHIPPED:
            raise ConfigError(f"dataset.params.name: {p.name!r} is not shipped with aeon; "
                              f"choose one of {', '.join(UCR_SHIPPED)}")
        from aeon.datasets import load_classification

        splits = {}
        for split in ("train", "test"):
            X, y = load_classification(p.name, split=split)
            series = list(X) if not isinstance(X, np.ndarray) else [X[i] for i in range(len(X))]
            splits[split] = self._clean(series, list(y), f"{p.name} {split}", p.length)
        if p.length is None and splits["train"][0][0].shape[-1] != splits["test"][0][0].shape[-1]:
            n = splits["train"][0][0].shape[-1]
            xs, ys = splits["test"]
            splits["test"] = ([fix_length(x, n, p.on_length_mismatch, where=f"{p.name} test") for x in xs], ys)
        if p.normalize:
            for k, (xs, ys) in splits.items():
                splits[k] = ([((x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-8)).astype(np.float32)
                              for x in xs], ys)
        classes = sorted(set(splits["train"][1]) | set(splits["test"][1]), key=str)
        meta = {"source": f"aeon:{p.name}"}
        train = self._dataset(*splits["train"], "train", classes, meta)
        test = self._dataset(*splits["test"], "test", classes, meta)
        return self._few_shot(train, test, context.seed)


class ArraysParams(FixParams):
    path: str = Field(..., description=".npz with X (N, C, L) or (N, L) and y (optional X_test, y_test), "
                                       "or a .npy of X")
    labels_path: str | None = Field(None, description=".npy of labels when path is a .npy")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training series per class")


class ArraysDataset(_SignalLoader):
    """Numpy arrays of series: ``X`` shaped (N, channels, length) or (N, length), labels ``y``."""

    Params = ArraysParams
    pool_hint = ("set dataset.params.k_shot: the training series beyond it form the pool (with pool: true, the "
                 "default)")

    def _read(self) -> tuple[Any, Any, Any, Any]:
        from gda_core.splits import read_arrays

        path = Path(self.params.path).expanduser()
        X, y, Xt, yt = read_arrays(self.params.path, self.params.labels_path)
        for name, a in (("X", X), ("X_test", Xt)):
            if a is not None and a.ndim not in (2, 3):
                raise DataError(f"{path}: {name} must be (N, length) or (N, channels, length), not {a.shape}")
        return X, y, Xt, yt

    def load(self, context: RunContext) -> DataSplits:
        X, y, Xt, yt = self._read()
        p = self.params
        src = Path(p.path).expanduser()
        xs, ys = self._clean(list(X), list(y), f"{src} (train)", p.length)
        length = p.length or xs[0].shape[-1]
        labels = set(ys)
        test = None
        if Xt is not None:
            xts, yts = self._clean(list(Xt), list(yt), f"{src} (test)", length)
            labels |= set(yts)
        classes = sorted(labels, key=str)
        train = self._dataset(xs, ys, "train", classes)
        if Xt is not None:
            test = self._dataset(xts, yts, "test", classes)
        return self._few_shot(train, test, context.seed)


class AudioParams(FixParams):
    path: str = Field(..., description="folder with one sub-folder of WAV files per class")
    test_path: str | None = Field(None, description="a test folder of the same layout (else a split is held out)")
    sample_rate: int = Field(16000, gt=0, description="sampling rate of every record (Hz)")
    on_rate_mismatch: Literal["error", "resample"] = Field(
        "error", description="a file at another rate: error, or resample it (torchaudio) to sample_rate")
    mono: bool = Field(True, description="average the channels of multi-channel files")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training files per class")
    unlabelled: str | None = Field(None, description="a folder of WAV files without labels (searched recursively; "
                                   "may sit inside path) for the unlabelled pool")


class AudioFolderDataset(_SignalLoader):
    """A folder of WAV files, one sub-folder per class (read with soundfile).

    Files at another rate are resampled with ``torchaudio.functional.resample`` when
    ``on_rate_mismatch: resample``; lengths are brought to ``length`` samples by the
    configured fix. Kept synthetic samples are written as WAV (and NPY).
    """

    Params = AudioParams
    pool_hint = ("set dataset.params.unlabelled to a folder of WAV files without labels, or "
                 "dataset.params.k_shot: the training files beyond it join the pool (with pool: true, the "
                 "default)")
    modality = "audio"

    def _read(self, folder: str, prefix: str, length: int | None) -> Dataset:
        p = self.params
        root = Path(folder).expanduser()
        field = "path" if prefix == "train" else "test_path"
        if not root.is_dir():
            raise DataError(f"dataset.params.{field}: {root} is not a folder")
        series, labels, names = [], [], []
        class_dirs = class_folders(root, p.unlabelled, field)
        if not class_dirs:
            raise DataError(f"{root} has no class sub-folders (expected {root}/<class>/*.wav)")
        for d in class_dirs:
            for f in sorted(d.glob("*.wav")) + sorted(d.glob("*.WAV")):
                series.append(self._wav(f))
                labels.append(d.name)
                names.append(str(f))
        if not series:
            raise DataError(f"{root} holds no .wav files")
        xs, ys = self._clean(series, labels, f"{root}", length, names=names)
        meta = {"sample_rate": p.sample_rate}
        return self._dataset(xs, ys, prefix, sorted(set(ys)), meta)

    def _wav(self, f: Path) -> np.ndarray:
        """One WAV file as ``(channels, frames)`` at ``sample_rate``; errors name the file."""
        import soundfile as sf

        p = self.params
        try:
            data, rate = sf.read(str(f), dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises its own LibsndfileError
            raise DataError(f"cannot read {f}: {exc}") from exc
        x = data.T  # (channels, frames)
        if p.mono and x.shape[0] > 1:
            x = x.mean(0, keepdims=True)
        if rate != p.sample_rate:
            if p.on_rate_mismatch == "error":
                raise DataError(f"{f} is sampled at {rate} Hz, not {p.sample_rate} Hz; "
                                "set on_rate_mismatch: resample to convert it")
            x = _resample(x, rate, p.sample_rate)
        return x

    def _unlabelled(self, length: int, test: Dataset | None) -> list[Record]:
        """The ``unlabelled`` folder's WAV files as pool records; one equal to a test record is an error."""
        root = Path(self.params.unlabelled or "").expanduser()
        if not root.is_dir():
            raise DataError(f"dataset.params.unlabelled: {root} is not a folder")
        files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() == ".wav")
        if not files:
            raise DataError(f"dataset.params.unlabelled: {root} holds no .wav files")
        xs, _ = self._clean([self._wav(f) for f in files], [None] * len(files), str(root), length,
                            names=[str(f) for f in files])
        if len(xs) != len(files):  # on_nan: drop removed some; keep names in step
            raise DataError(f"dataset.params.unlabelled: {len(files) - len(xs)} file(s) in {root} hold NaNs; "
                            "set on_nan: zero or interpolate")
        test_series = {np.asarray(r.data).tobytes(): r.id for r in test or []}
        out = []
        for f, x in zip(files, xs):
            if x.tobytes() in test_series:
                raise DataError(f"dataset.params.unlabelled: {f} is the test record {test_series[x.tobytes()]!r}; "
                                "the pool must hold no test record")
            out.append(Record(id=f"unlabelled:{f.relative_to(root).with_suffix('').as_posix()}", data=x, label=None,
                              meta={"sample_rate": self.params.sample_rate, "file": str(f)}))
        return out

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        train = self._read(p.path, "train", p.length)
        test = None
        if p.test_path:
            test = self._read(p.test_path, "test", p.length or train[0].data.shape[-1])
            test = Dataset(test.records, modality=test.modality, classes=train.classes, meta=test.meta)
        splits = self._few_shot(train, test, context.seed)
        if p.unlabelled:
            extra = self._unlabelled(train[0].data.shape[-1], splits.test)
            pool = [*(splits.pool.records if splits.pool is not None else []), *extra]
            splits.pool = Dataset(pool, modality=self.modality, classes=train.classes, meta=train.meta)
        return splits

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        import soundfile as sf

        x = as_signal(record.data)
        np.save(stem.with_suffix(".npy"), x, allow_pickle=False)
        out = stem.with_suffix(".wav")
        sf.write(str(out), np.clip(x.T, -1.0, 1.0), self.params.sample_rate, subtype="FLOAT")
        return out


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(x)), orig, new).numpy().astype(np.float32)
