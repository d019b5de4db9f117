"""``text.classifier``: the downstream text classification task."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Application
from gda_core.errors import ConfigError
from gda_core.torch.accelerators import DeviceParams
from gda_core.torch.weights import safe_kwargs

if TYPE_CHECKING:
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class TextClassifierParams(DeviceParams):
    model: Literal["tfidf-logreg", "embedding-logreg", "transformer"] = Field(
        "tfidf-logreg", description="TF-IDF + logistic regression (fast default); logistic regression on the "
        "run's embedder; or fine-tuning a small transformer encoder")
    ngram_max: int = Field(2, ge=1, le=4, description="TF-IDF: longest word n-gram")
    char_ngrams: bool = Field(True, description="TF-IDF: add character 2-5-grams (robust to typos)")
    C: float = Field(10.0, gt=0, description="inverse regularisation of the logistic regression")
    transformer: str | None = Field(None, description="transformer: encoder folder or hub id (default: the "
                                    "shipped all-MiniLM-L6-v2 weights)")
    epochs: int = Field(4, gt=0, description="transformer: fine-tuning epochs")
    lr: float = Field(5e-5, gt=0, description="transformer: learning rate")
    batch_size: int = Field(16, gt=0, description="transformer: texts per step")
    max_length: int = Field(64, gt=4, description="transformer: tokens per text")


class TextClassifierApplication(Application):
    """Text classification (TF-IDF + logistic regression by default), accuracy and macro F1.

    Scored on held-out real texts: TF-IDF word
    (and character) n-grams with logistic regression by default, logistic regression on sentence
    embeddings, or a fine-tuned transformer encoder (sequence classification head)."""

    data_kind = "texts"
    Params = TextClassifierParams
    metric = "accuracy"

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        y = np.asarray([str(v) for v in train.labels()])
        yt = np.asarray([str(v) for v in test.labels()])
        if len(set(y.tolist())) < 2:
            pred = np.full(len(yt), y[0])
        elif self.params.model == "transformer":
            pred = self._transformer(train, test, y, seed, context)
        else:
            pred = self.fit_sklearn(train, y, seed, context).predict(self._inputs(test, context))
        return {"accuracy": float(accuracy_score(yt, pred)), "macro_f1": float(f1_score(yt, pred, average="macro"))}

    def _inputs(self, ds, context):
        if self.params.model == "embedding-logreg":
            return context.embed(ds.records)
        return [str(r.data) for r in ds.records]

    def fit_sklearn(self, train: Dataset, y: Any, seed: int, context: RunContext) -> Any:
        """The fitted scikit-learn pipeline for ``tfidf-logreg`` or ``embedding-logreg``."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.preprocessing import StandardScaler

        p = self.params
        clf = LogisticRegression(C=p.C, max_iter=3000, random_state=seed)
        if p.model == "embedding-logreg":
            return make_pipeline(StandardScaler(), clf).fit(self._inputs(train, context), y)
        feats = [TfidfVectorizer(ngram_range=(1, p.ngram_max), sublinear_tf=True)]
        if p.char_ngrams:
            feats.append(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))
        return make_pipeline(make_union(*feats), clf).fit(self._inputs(train, context), y)

    def _transformer(self, train, test, y, seed, context) -> np.ndarray:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        p = self.params
        src = p.transformer
        if src is None:
            from ..embedders.sentence import default_model_path

            src = str(default_model_path())
        local = Path(src).expanduser().is_dir()
        classes = sorted(set(y.tolist()))
        device = pick_device(p.device)
        try:
            tok = AutoTokenizer.from_pretrained(src, local_files_only=local)
            torch.manual_seed(seed)
            model = AutoModelForSequenceClassification.from_pretrained(
                src, num_labels=len(classes), local_files_only=local, **safe_kwargs(transformers=True),
                id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)}).to(device)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"application.params.transformer: cannot load {src!r}: {exc}") from exc
        if tok.pad_token is None:
            if tok.eos_token or tok.unk_token:
                tok.pad_token = tok.eos_token or tok.unk_token
            else:  # no token to pad with: add one (its embedding is masked out of attention anyway)
                tok.add_special_tokens({"pad_token": "<pad>"})
                model.resize_token_embeddings(len(tok))
            model.config.pad_token_id = tok.pad_token_id
        texts = [str(r.data) for r in train.records]
        target = torch.tensor([classes.index(v) for v in y])
        opt = torch.optim.AdamW(model.parameters(), lr=p.lr)
        gen = torch.Generator().manual_seed(seed)
        apply_thread_setting()
        model.train()
        for _ in range(p.epochs):
            order = torch.randperm(len(texts), generator=gen).tolist()
            for b in range(0, len(order), p.batch_size):
                idx = order[b:b + p.batch_size]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=p.max_length,
                          return_tensors="pt").to(device)
                loss = model(**enc, labels=target[idx].to(device)).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        preds = []
        test_texts = [str(r.data) for r in test.records]
        with torch.no_grad():
            for b in range(0, len(test_texts), 64):
                enc = tok(test_texts[b:b + 64], padding=True, truncation=True, max_length=p.max_length,
                          return_tensors="pt").to(device)
                preds.extend(model(**enc).logits.argmax(-1).cpu().tolist())
        return np.asarray([classes[i] for i in preds])
