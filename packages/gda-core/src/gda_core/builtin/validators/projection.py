"""2-D projections (PCA and t-SNE) of real and synthetic features, as report figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Figure, Params, ValidationResult, Validator
from gda_core.errors import NotApplicable
from gda_core.records import label_key

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class ProjectionParams(Params):
    methods: list[Literal["pca", "tsne"]] = Field(["pca", "tsne"], min_length=1, description="any of pca, tsne")
    max_points: int = Field(1000, gt=10, description="subsample each side to this many points")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class ProjectionValidator(Validator):
    """Scatter plots of real training and kept synthetic samples in 2-D (scikit-learn PCA
    and t-SNE fitted on both together), coloured by class."""

    Params = ProjectionParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
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
        if X.ndim != 2 or X.shape[1] < 2:
            raise NotApplicable(f"a 2-D projection needs at least 2 features; these samples have "
                                f"{X.shape[1] if X.ndim == 2 else 0}")
        if len(X) < 3:
            raise NotApplicable(f"a 2-D projection needs at least 3 samples (real and kept synthetic); there are "
                                f"{len(X)}")
        is_real = np.array([True] * len(real_recs) + [False] * len(fake_recs))
        labels = [label_key(r.label) for r in real_recs + fake_recs]
        classes = sorted(set(labels), key=lambda c: (len(c), c))  # 2 before 10
        figures, notes = [], []
        for method in dict.fromkeys(self.params.methods):
            if method == "tsne" and len(X) < 4:
                notes.append(f"t-SNE not applicable: it needs at least 4 samples, there are {len(X)}")
                continue
            if method == "pca":
                pca = PCA(n_components=2, random_state=context.seed)
                Z = pca.fit_transform(X)
                axis = [f"PC {i + 1} ({100 * v:.0f}% of variance)" for i, v in enumerate(pca.explained_variance_ratio_)]
            elif method == "tsne":
                perplexity = float(max(2, min(30, (len(X) - 1) // 3)))
                Z = TSNE(n_components=2, perplexity=perplexity, random_state=context.seed,
                         init="pca").fit_transform(X)
                axis = ["t-SNE 1", "t-SNE 2"]
            figures.append(Figure(f"{method.upper()} projection of real (o) and kept synthetic (^) samples",
                                  f"projection_{method}.png", _scatter(Z, is_real, labels, classes, method, axis)))
        return ValidationResult(figures=figures, notes=notes)


def class_colours(n: int) -> list:
    """``n`` distinct colours: tab10 up to 10 classes, tab20 up to 20, then evenly spaced hues."""
    import matplotlib.pyplot as plt

    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def _scatter(Z: np.ndarray, is_real: np.ndarray, labels: list[str], classes: list[str], method: str,
             axis: list[str]) -> bytes:
    """The projection as PNG: real samples as faint hollow circles underneath, synthetic ones as
    filled, black-edged triangles on top; a legend for every class and both marker kinds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from gda_core.previews import figure_png

    colours = class_colours(len(classes))
    lab = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(6.8, 4.8), dpi=100)
    for ci, c in enumerate(classes):  # every real point first, so synthetic ones are drawn above all of them
        pts = Z[(lab == c) & is_real]
        ax.scatter(pts[:, 0], pts[:, 1], s=34, marker="o", facecolors="none", edgecolors=[colours[ci]],
                   linewidths=1.2, alpha=0.8, zorder=1)
    for ci, c in enumerate(classes):
        pts = Z[(lab == c) & ~is_real]
        ax.scatter(pts[:, 0], pts[:, 1], s=26, marker="^", color=colours[ci], edgecolors="black",
                   linewidths=0.5, alpha=0.9, zorder=3)
    ax.set_xlabel(axis[0])
    ax.set_ylabel(axis[1])
    ax.set_title(f"{method.upper()}: {int(is_real.sum())} real (o), {int((~is_real).sum())} kept synthetic (^)",
                 fontsize=10)
    handles = [Line2D([], [], ls="", marker="o", mfc="none", mec="grey", label="real"),
               Line2D([], [], ls="", marker="^", mfc="grey", mec="black", label="kept synthetic")]
    handles += [Line2D([], [], ls="", marker="s", color=colours[ci], label=str(c)) for ci, c in enumerate(classes)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              ncol=1 + (len(handles) - 1) // 24, frameon=False)
    return figure_png(fig)
