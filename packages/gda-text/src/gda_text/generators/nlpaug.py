"""``text.nlpaug``: classical text augmentation with nlpaug, a baseline for the LM generators."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from gda_core.components import SAMPLING, Generator, Params
from gda_core.errors import ConfigError
from gda_core.records import Record

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset

Action = Literal["keyboard", "ocr", "spelling", "char_swap", "char_delete", "char_insert", "char_substitute",
                 "word_swap", "word_delete", "word_insert", "word_crop", "word_split", "synonym", "contextual"]
_APOSTROPHE = re.compile(r"(?<=\w) ' (?=[a-z]{1,2}\b)")
OFFLINE_DEFAULT: list[str] = ["keyboard", "ocr", "char_swap", "char_delete", "char_insert", "word_swap",
                              "word_delete", "word_insert"]


class NlpaugParams(Params):
    model_config = ConfigDict(json_schema_extra=SAMPLING)  # every parameter is a sampling one: fit only stores texts

    actions: list[Action] = Field(default_factory=lambda: list(OFFLINE_DEFAULT), min_length=1,
                                  description="augmenters drawn from at random per sample")
    chain: int = Field(1, ge=1, le=4, description="augmenters applied one after another to each sample")
    aug_p: float = Field(0.1, gt=0, le=1, description="share of characters/words an augmenter changes")
    aug_max: int | None = Field(None, gt=0, description="at most this many changes per augmenter")
    contextual_model: str | None = Field(None, description="local masked LM folder (or hub id) for 'contextual'")
    wordnet_lang: str = Field("eng", description="WordNet language for 'synonym'")


def wordnet_available() -> bool:
    """True when nltk and its WordNet data are installed (synonyms need both)."""
    try:
        import nltk
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return bool(nltk)
    except Exception:  # noqa: BLE001 - LookupError, ImportError, ...
        return False


class NlpaugGenerator(Generator):
    """Classical augmentation baseline: real texts of the intended class perturbed by nlpaug.

    Augmenters: keyboard and OCR typos, spelling mistakes, random character and word
    swaps/deletions/insertions, WordNet synonyms (when nltk's WordNet data is installed) and contextual word
    substitution (with a local masked LM)."""

    data_kind = "texts"
    Params = NlpaugParams
    version = "1"

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.texts_ = {r.id: str(r.data) for r in train.records}
        self.by_class_ = {str(c): [str(r.data) for r in recs] for c, recs in train.by_class().items()}
        self.vocab_ = {key: sorted({w for t in texts for w in t.split() if w.isalpha()})
                       for key, texts in self.by_class_.items()}
        self.augmenters_ = {a: self._build(a) for a in dict.fromkeys(self.params.actions) if a != "word_insert"}

    def _build(self, action: str):
        import nlpaug.augmenter.char as nac
        import nlpaug.augmenter.word as naw

        p = self.params
        common: dict[str, Any] = {"aug_max": p.aug_max} if p.aug_max is not None else {}
        char = {"aug_char_p": p.aug_p, **{("aug_char_max" if k == "aug_max" else k): v for k, v in common.items()}}
        word = {"aug_p": p.aug_p, **common}
        if action == "keyboard":
            return nac.KeyboardAug(**char)
        if action == "ocr":
            return nac.OcrAug(**char)
        if action.startswith("char_"):
            return nac.RandomCharAug(action=action[5:], **char)
        if action == "spelling":
            return naw.SpellingAug(**word)
        if action in ("word_swap", "word_delete", "word_crop"):
            return naw.RandomWordAug(action=action[5:], **word)
        if action == "word_split":
            return naw.SplitAug(**word)
        if action == "synonym":
            if not wordnet_available():
                raise ConfigError("generator.params.actions: 'synonym' needs nltk and its WordNet data "
                                  "(pip install nltk; python -m nltk.downloader wordnet omw-1.4)")
            return naw.SynonymAug(aug_src="wordnet", lang=self.params.wordnet_lang, **word)
        if action == "contextual":
            if self.params.contextual_model is None:
                raise ConfigError("generator.params.contextual_model: 'contextual' needs a local masked LM folder")
            path = Path(self.params.contextual_model).expanduser()
            from gda_core.torch.accelerators import pick_device

            self._check_masked_lm(path)

            return naw.ContextualWordEmbsAug(model_path=str(path) if path.is_dir() else self.params.contextual_model,
                                             model_type="bert", action="substitute",
                                             device=str(pick_device("auto")), use_custom_api=False, **word)
        raise ConfigError(f"generator.params.actions: unknown action {action!r}")  # pragma: no cover

    def _check_masked_lm(self, path: Path) -> None:
        """Contextual substitution masks a word and asks the model for it: a tokenizer without a mask
        token (a causal LM's) cannot; one clear error naming the field instead of nlpaug's traceback."""
        from transformers import AutoTokenizer

        src = str(path) if path.is_dir() else self.params.contextual_model
        try:
            tok = AutoTokenizer.from_pretrained(src, local_files_only=path.is_dir())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"generator.params.contextual_model: cannot load a tokenizer from {src!r}: "
                              f"{str(exc).splitlines()[0][:200]}") from exc
        if tok.mask_token is None:
            raise ConfigError(f"generator.params.contextual_model: {src!r} has no mask token; 'contextual' "
                              "substitution needs a masked language model (BERT-style), not a causal one")

    def _word_insert(self, text: str, key: str, rng: random.Random) -> str:
        vocab = self.vocab_.get(key) or [w for v in self.vocab_.values() for w in v]
        words = text.split()
        if not vocab:
            return text
        n = max(1, int(round(self.params.aug_p * len(words))))
        if self.params.aug_max is not None:
            n = min(n, self.params.aug_max)
        for _ in range(n):
            words.insert(rng.randint(0, len(words)), rng.choice(vocab))
        return " ".join(words)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("texts_")
        rng = random.Random(seed)
        out = []
        for i, cond in enumerate(conditions):
            key = str(cond.get("label"))
            src = self.texts_.get(cond.get("source_id"))
            if src is None:
                pool = self.by_class_.get(key) or list(self.texts_.values())
                src = pool[rng.randrange(len(pool))]
            text, used = src, []
            for _ in range(self.params.chain):
                action = rng.choice(self.params.actions)
                used.append(action)
                if action == "word_insert":
                    text = self._word_insert(text, key, rng)
                    continue
                # nlpaug draws from the global random/numpy generators: seed them per sample
                random.seed(seed * 1_000_003 + i * 31 + len(used))
                np.random.seed((seed * 7919 + i * 31 + len(used)) % 2**32)
                if action == "contextual":
                    import torch

                    torch.manual_seed(seed * 7919 + i)
                res = self.augmenters_[action].augment(text)
                text = res[0] if isinstance(res, list) and res else (res if isinstance(res, str) else text)
                text = _APOSTROPHE.sub("'", text)  # nlpaug re-joins "can't" as "can ' t"
            out.append(Record(id="", data=text, label=cond.get("label"), meta={"actions": used, "source": src}))
        return out

    def save_state(self, path: Path) -> None:
        import json

        (path / "nlpaug_state.json").write_text(json.dumps({"texts": self.texts_, "by_class": self.by_class_}))

    def load_state(self, path: Path) -> None:
        import json

        state = json.loads((path / "nlpaug_state.json").read_text())
        self.texts_, self.by_class_ = state["texts"], state["by_class"]
        self.vocab_ = {key: sorted({w for t in texts for w in t.split() if w.isalpha()})
                       for key, texts in self.by_class_.items()}
        self.augmenters_ = {a: self._build(a) for a in dict.fromkeys(self.params.actions) if a != "word_insert"}
