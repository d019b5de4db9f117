"""Signal data sets: aeon's shipped UCR/UEA archives, numpy arrays, folders of WAV files.

Every record holds a float32 array ``(channels, length)``. Ragged lengths, NaNs and
wrong sampling rates raise :class:`~gda_core.errors.DataError` unless a fix is
configured explicitly (``on_length_mismatch``, ``on_nan``, ``on_rate_mismatch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset, Record
from gda_core.splits import k_shot

from ._util import LengthFix, NanFix, as_signal, fix_length, fix_nan, plain

UCR_SHIPPED = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels", "OSULeaf",
               "ACSF1", "PickupGestureWiimoteZ", "UnitTest")


class _SignalLoader(DatasetLoader):
    """Shared cleaning (length and NaN fixes) and NPY output."""

    modality = "signal"

    def _clean(self, series: list[Any], labels: list[Any], prefix: str, length: int | None,
               meta: dict[str, Any] | None = None) -> tuple[list[np.ndarray], list[Any]]:
        p = self.params
        xs = [as_signal(x, where=f"{prefix} sample {i}") for i, x in enumerate(series)]
        if not xs:
            return [], []
        target = length or (xs[0].shape[-1] if len({x.shape[-1] for x in xs}) == 1 else None)
        if target is None:
            lengths = sorted({x.shape[-1] for x in xs})
            if p.on_length_mismatch == "error":
                shown = f"{lengths[:5]}{'...' if len(lengths) > 5 else ''}"
                raise DataError(f"{prefix}: series have ragged lengths {shown};"
                                " set length and on_length_mismatch (pad, crop, pad-or-crop, resample)")
            target = max(lengths) if p.on_length_mismatch in ("pad", "pad-or-crop", "resample") else min(lengths)
        chans = {x.shape[0] for x in xs}
        if len(chans) > 1:
            raise DataError(f"{prefix}: series have different channel counts {sorted(chans)}")
        out_x, out_y = [], []
        for i, (x, y) in enumerate(zip(xs, labels)):
            where = f"{prefix} sample {i}"
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


class FixParams(Params):
    length: int | None = Field(None, gt=1, description="series length after the length fix (default: the data's)")
    on_length_mismatch: LengthFix = Field(
        "error", description="ragged or wrong lengths: error, pad (zeros), crop, pad-or-crop, resample (linear)")
    on_nan: NanFix = Field("error", description="NaN/inf values: error, zero, interpolate (linear), drop the sample")


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

    def load(self, context) -> DataSplits:
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
        return DataSplits(k_shot(train, p.k_shot, context.seed), test)


class ArraysParams(FixParams):
    path: str = Field(..., description=".npz with X (N, C, L) or (N, L) and y (optional X_test, y_test), "
                                       "or a .npy of X")
    labels_path: str | None = Field(None, description=".npy of labels when path is a .npy")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training series per class")


class ArraysDataset(_SignalLoader):
    """Numpy arrays of series: ``X`` shaped (N, channels, length) or (N, length), labels ``y``."""

    Params = ArraysParams

    def _read(self) -> tuple[Any, Any, Any, Any]:
        from gda_core.splits import read_arrays

        path = Path(self.params.path).expanduser()
        X, y, Xt, yt = read_arrays(self.params.path, self.params.labels_path)
        for name, a in (("X", X), ("X_test", Xt)):
            if a is not None and a.ndim not in (2, 3):
                raise DataError(f"{path}: {name} must be (N, length) or (N, channels, length), not {a.shape}")
        return X, y, Xt, yt

    def load(self, context) -> DataSplits:
        X, y, Xt, yt = self._read()
        p = self.params
        xs, ys = self._clean(list(X), list(y), "train", p.length)
        length = p.length or xs[0].shape[-1]
        labels = set(ys)
        test = None
        if Xt is not None:
            xts, yts = self._clean(list(Xt), list(yt), "test", length)
            labels |= set(yts)
        classes = sorted(labels, key=str)
        train = self._dataset(xs, ys, "train", classes)
        if Xt is not None:
            test = self._dataset(xts, yts, "test", classes)
        return DataSplits(k_shot(train, p.k_shot, context.seed), test)


class AudioParams(FixParams):
    path: str = Field(..., description="folder with one sub-folder of WAV files per class")
    test_path: str | None = Field(None, description="a test folder of the same layout (else a split is held out)")
    sample_rate: int = Field(16000, gt=0, description="sampling rate of every record (Hz)")
    on_rate_mismatch: Literal["error", "resample"] = Field(
        "error", description="a file at another rate: error, or resample it (torchaudio) to sample_rate")
    mono: bool = Field(True, description="average the channels of multi-channel files")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training files per class")


class AudioFolderDataset(_SignalLoader):
    """A folder of WAV files, one sub-folder per class (read with soundfile).

    Files at another rate are resampled with ``torchaudio.functional.resample`` when
    ``on_rate_mismatch: resample``; lengths are brought to ``length`` samples by the
    configured fix. Kept synthetic samples are written as WAV (and NPY).
    """

    Params = AudioParams
    modality = "audio"

    def _read(self, folder: str, prefix: str, length: int | None) -> Dataset:
        import soundfile as sf

        p = self.params
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise DataError(f"dataset.params.{'path' if prefix == 'train' else 'test_path'}: {root} is not a folder")
        series, labels = [], []
        class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
        if not class_dirs:
            raise DataError(f"{root} has no class sub-folders (expected {root}/<class>/*.wav)")
        for d in class_dirs:
            for f in sorted(d.glob("*.wav")) + sorted(d.glob("*.WAV")):
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
                series.append(x)
                labels.append(d.name)
        if not series:
            raise DataError(f"{root} holds no .wav files")
        xs, ys = self._clean(series, labels, f"{root}", length)
        meta = {"sample_rate": p.sample_rate}
        return self._dataset(xs, ys, prefix, sorted(set(ys)), meta)

    def load(self, context) -> DataSplits:
        p = self.params
        train = self._read(p.path, "train", p.length)
        test = None
        if p.test_path:
            test = self._read(p.test_path, "test", p.length or train[0].data.shape[-1])
            test = Dataset(test.records, modality=test.modality, classes=train.classes, meta=test.meta)
        return DataSplits(k_shot(train, p.k_shot, context.seed), test)

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
