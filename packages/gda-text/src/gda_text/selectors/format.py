"""``text.format``: length and format rules for generated texts."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Selector

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record

_URL = re.compile(r"https?://|www\.", re.IGNORECASE)


class FormatParams(Params):
    min_words: int = Field(3, ge=0, description="fewer words than this is dropped")
    max_words: int = Field(60, gt=0, description="more words than this is dropped")
    min_chars: int = Field(10, ge=0, description="fewer characters than this is dropped")
    max_chars: int = Field(400, gt=0, description="more characters than this is dropped")
    min_alpha: float = Field(0.6, ge=0, le=1, description="smallest share of letters among non-space characters")
    max_repeat: int = Field(3, gt=0, description="most times one word may repeat back to back")
    max_nonword: float = Field(0.5, ge=0, le=1, description="largest share of words unknown to the real "
                               "training vocabulary (garbled text); 1 turns the rule off")
    drop_label_prefix: bool = Field(True, description="drop texts that start with a class name and a colon "
                                    "(a leaked prompt)")
    drop_copies: bool = Field(True, description="drop exact copies of a real training text (case and space "
                              "insensitive)")
    drop_urls: bool = Field(False, description="drop texts containing a URL")
    drop_bad_chars: bool = Field(True, description="drop texts holding a U+FFFD replacement character (broken "
                                 "decoding) or a control character (tab, newline, NUL ...)")


def bad_chars(text: str) -> list[str]:
    """The U+FFFD replacement characters and control, surrogate or private-use characters in ``text``."""
    return [c for c in text if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Cs", "Co")]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class FormatSelector(Selector):
    """Keeps texts that pass every length and format rule.

    The score is the number of rules a text breaks (0 is kept). Rules: word and character length, share of
    letters, back-to-back word repeats, share of out-of-vocabulary words, leaked label prefixes, copies of
    real texts, URLs, replacement (U+FFFD) and control characters (tabs included)."""

    data_kind = "texts"
    Params = FormatParams
    higher_is_better = False

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.real_ = {_norm(str(r.data)) for r in train.records}
        self.vocab_ = {w for r in train.records for w in re.findall(r"[a-z]+", str(r.data).lower())}
        self.labels_ = {str(c).lower() for c in train.classes}

    def violations(self, text: str) -> list[str]:
        """The names of the rules ``text`` breaks."""
        p = self.params
        out = []
        words = text.split()
        if len(words) < p.min_words:
            out.append("min_words")
        if len(words) > p.max_words:
            out.append("max_words")
        if len(text) < p.min_chars:
            out.append("min_chars")
        if len(text) > p.max_chars:
            out.append("max_chars")
        chars = [c for c in text if not c.isspace()]
        if chars and sum(c.isalpha() for c in chars) / len(chars) < p.min_alpha:
            out.append("min_alpha")
        run, longest = 1, 1
        lower = [w.lower().strip(".,!?") for w in words]
        for a, b in zip(lower, lower[1:]):
            run = run + 1 if a == b else 1
            longest = max(longest, run)
        if longest > p.max_repeat:
            out.append("max_repeat")
        tokens = re.findall(r"[a-z]+", text.lower())
        if p.max_nonword < 1 and tokens and self.vocab_:
            if sum(t not in self.vocab_ for t in tokens) / len(tokens) > p.max_nonword:
                out.append("max_nonword")
        if p.drop_label_prefix:
            head = text.split(":", 1)[0].strip().lower()
            if ":" in text[:40] and head in self.labels_:
                out.append("label_prefix")
        if p.drop_copies and _norm(text) in self.real_:
            out.append("copy")
        if p.drop_urls and _URL.search(text):
            out.append("url")
        if p.drop_bad_chars and bad_chars(text):
            out.append("bad_chars")
        return out

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        return np.asarray([len(self.violations(str(r.data))) for r in synthetic], dtype=float)

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        return np.asarray(scores) == 0
