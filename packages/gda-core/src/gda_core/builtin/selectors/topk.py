"""Keep the top samples by any score already computed (a selector's or a meta field)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams, chain_keys, class_groups
from gda_core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Record


class TopKParams(SelectorParams):
    by: str = Field(..., description="a previous selector's name in the chain, or a key of record.meta")
    k: int | None = Field(None, gt=0, description="keep this many (per class with per_class)")
    lower_is_better: bool = Field(False, description="rank ascending instead of descending")


class TopKSelector(Selector):
    """Keep the ``k`` (or the ``keep`` fraction of) samples that rank highest by ``by``."""

    Params = TopKParams

    def check_chain(self, earlier: Sequence[Selector]) -> None:
        """A ``by`` that names a selector (an installed selector's name, or ``name#2``) must name one
        earlier in the chain, checked before any work; any other ``by`` is a key of
        ``record.meta``, checked when the records are scored. Raises ``ValueError`` naming it."""
        from gda_core.host import host

        by = self.params.by
        if by.split("#")[0] not in host.components("selectors"):
            return
        keys = chain_keys(earlier)
        if by not in keys:
            have = ", ".join(keys) or "none"
            raise ValueError(f"params.by: {by!r} is not a selector before this one in the chain (before it: {have})")

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        by = self.params.by
        out = []
        for r in synthetic:
            if by in r.provenance.scores:
                v = r.provenance.scores[by]
            elif by in r.meta:
                v = r.meta[by]
            else:
                raise ConfigError(
                    f"core.topk: record {r.id} has no score {by!r} (put that selector earlier in the chain)")
            out.append(np.nan if v is None else float(v))
        s = np.asarray(out, dtype=float)
        return -s if self.params.lower_is_better else s

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        p = self.params
        s = np.where(np.isfinite(scores), scores, -np.inf)
        if p.k is None:
            return super().select(s, synthetic, context)
        keep = np.zeros(len(s), dtype=bool)
        for idx in class_groups(synthetic, p.per_class):
            keep[idx[np.argsort(-s[idx], kind="stable")[: p.k]]] = True
        if p.threshold is not None:
            keep &= s >= p.threshold
        return keep
