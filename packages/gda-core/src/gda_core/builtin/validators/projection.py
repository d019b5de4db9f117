"""2-D projections (PCA and t-SNE) of real and synthetic features, as report figures."""

from __future__ import annotations

import io

import numpy as np
from pydantic import Field

from gda_core.components import Figure, Params, ValidationResult, Validator


class ProjectionParams(Params):
    methods: list[str] = Field(["pca", "tsne"], description="any of pca, tsne")
    max_points: int = Field(1000, gt=10, description="subsample each side to this many points")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class ProjectionValidator(Validator):
    """Scatter plots of real training and kept synthetic samples in 2-D (scikit-learn PCA
    and t-SNE fitted on both together), coloured by class."""

    Params = ProjectionParams

    def evaluate(self, inputs, context) -> ValidationResult:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        rng = context.rng(77)
        real_recs = list(inputs.train.records)
        fake_recs = list(inputs.synthetic)
        cap = self.params.max_points
        if len(real_recs) > cap:
            real_recs = [real_recs[i] for i in sorted(rng.choice(len(real_recs), cap, replace=False))]
        if len(fake_recs) > cap:
            fake_recs = [fake_recs[i] for i in sorted(rng.choice(len(fake_recs), cap, replace=False))]
        X = np.concatenate([context.embed(real_recs, self.params.embedder),
                            context.embed(fake_recs, self.params.embedder)])
        is_real = np.array([True] * len(real_recs) + [False] * len(fake_recs))
        labels = [str(r.label) for r in real_recs + fake_recs]
        classes = sorted(set(labels))
        figures = []
        for method in self.params.methods:
            if method == "pca":
                Z = PCA(n_components=2, random_state=context.seed).fit_transform(X)
            elif method == "tsne":
                perplexity = float(max(2, min(30, (len(X) - 1) // 3)))
                Z = TSNE(n_components=2, perplexity=perplexity, random_state=context.seed,
                         init="pca").fit_transform(X)
            else:
                continue
            fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
            cmap = plt.get_cmap("tab10")
            for ci, c in enumerate(classes):
                sel = np.array([lab == c for lab in labels])
                ax.scatter(*Z[sel & is_real].T, s=22, marker="o", color=cmap(ci % 10), label=f"real {c}",
                           edgecolors="black", linewidths=0.4)
                ax.scatter(*Z[sel & ~is_real].T, s=14, marker="x", color=cmap(ci % 10), alpha=0.7,
                           label=f"synthetic {c}")
            ax.set_title(f"{method.upper()}: real (o) vs synthetic (x)")
            if len(classes) <= 5:
                ax.legend(fontsize=7, loc="best")
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            plt.close(fig)
            figures.append(Figure(f"{method.upper()} projection", f"projection_{method}.png", buf.getvalue()))
        return ValidationResult(figures=figures)
