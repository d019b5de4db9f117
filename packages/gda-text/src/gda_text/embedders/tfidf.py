"""``text.tfidf``: TF-IDF features of the real training vocabulary, reduced by truncated SVD (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder, Params

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class TfidfParams(Params):
    analyzer: str = Field("word", pattern="^(word|char_wb)$", description="word n-grams or character n-grams")
    ngram_max: int = Field(2, ge=1, le=5, description="longest n-gram")
    components: int | None = Field(128, gt=0, description="truncated SVD dimensions (None: the sparse "
                                   "TF-IDF columns, densified)")


class TfidfEmbedder(Embedder):
    """TF-IDF vectors of the real training vocabulary, SVD-reduced: a fast text embedding."""

    data_kind = "texts"
    Params = TfidfParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        self.vec_ = TfidfVectorizer(analyzer=p.analyzer, ngram_range=(1, p.ngram_max), sublinear_tf=True,
                                    lowercase=True)
        X = self.vec_.fit_transform([str(r.data) for r in train.records])
        self.svd_ = None
        if p.components is not None and min(X.shape) > 2:
            n = min(p.components, X.shape[1] - 1, X.shape[0] - 1)
            self.svd_ = TruncatedSVD(n_components=n, random_state=context.seed).fit(X)

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        X = self.vec_.transform([str(r.data) for r in records])
        if self.svd_ is not None:
            return self.svd_.transform(X)
        return X.toarray()
