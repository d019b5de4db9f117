"""Issue 12 on the shipped support set: does LAMBADA-style generation add information, with the pool?

text.builtin with k labelled texts per class; the other training texts are the unlabelled pool
(never a test text). For each run seed (the k-shot draw, the LM training and sampling, the
downstream models) every method makes a training set, scored on the 200 test texts:

- ``real``: the labelled texts;
- ``nlpaug``: + text.nlpaug (the classical baseline);
- ``lora``: + text.prompt/text.lora (a small GPT-2 from scratch, then LoRA) on the labelled texts;
- ``lora-pool-texts``: the same with the pool's texts in the LM training, unprefixed (pool=texts);
- ``self-training``: + the pool pseudo-labelled by logistic regression on MiniLM embeddings, no generator;
- ``lora-pool-pl``: + text.lora trained on labelled + pseudo-labelled texts (pool=pseudo-label);
- ``lora-pool-pl+pool``: + the pseudo-labelled pool and lora-pool-pl's samples.

Downstream: logistic regression on MiniLM sentence embeddings, and on TF-IDF. Near-copy shares
in the MiniLM space. No selector runs (the generated set is used as drawn).

    nice -n 5 python benchmarks/novelty_text.py --seeds 0 1 2 -o runs/novelty-text
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from novelty_signal import near_copies, resume_rows, summarize_rows  # noqa: E402

METHODS = ("real", "nlpaug", "lora", "lora-pool-texts", "self-training", "lora-pool-pl", "lora-pool-pl+pool")
MODELS = {"minilm-logreg": "embedding-logreg", "tfidf-logreg": "tfidf-logreg"}


def run_seed(args, seed: int, done: set, write) -> None:
    from gda_core.builtin.pool import PseudoLabelParams, pseudo_label
    from gda_core.components import Strategy
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_core.splits import hidden_labels, label_accuracy, without_hidden_labels
    from gda_text.applications.classifier import TextClassifierApplication
    from gda_text.datasets import SupportTicketsDataset
    from gda_text.embedders.sentence import SentenceEmbedder
    from gda_text.generators.nlpaug import NlpaugGenerator
    from gda_text.generators.prompt import PromptGenerator
    from gda_text.strategies.lora import LoraStrategy

    splits = SupportTicketsDataset(k_shot=args.k).load(RunContext(train=Dataset([]), seed=seed, quiet=True))
    labelled, test, pool = splits.train, splits.test, splits.pool
    assert not {r.id for r in pool.records} & {r.id for r in test.records}
    hidden, pool = hidden_labels(pool), without_hidden_labels(pool)  # the labels aside, for the report only

    def fresh_ctx():
        return RunContext(train=labelled, test=test, pool=pool, seed=seed, quiet=True, embedder=SentenceEmbedder())

    ctx = fresh_ctx()
    counts = {c: args.ratio * args.k for c in labelled.classes}
    conds = Strategy().conditions(counts, labelled, ctx)

    def feats(records):
        return ctx.embed(list(records))

    def emit(method, synthetic, extra_train=(), reference=None, seconds=0.0, info=None):
        synthetic = [s for s in synthetic if str(s.data).strip()]
        for i, s in enumerate(synthetic):  # ids: the context caches embeddings by record id
            s.id = f"syn-{method}-{i}"
        train_set = labelled.with_records(list(labelled.records) + list(extra_train) + list(synthetic))
        share, share_real = near_copies(synthetic, reference or labelled.records, test, feats) if synthetic else (
            math.nan, math.nan)
        for model, kind in MODELS.items():
            t0 = time.perf_counter()
            score = TextClassifierApplication(model=kind).evaluate(train_set, test, seed=seed, context=ctx)["accuracy"]
            write({"dataset": "text.builtin", "seed": seed, "method": method, "model": model, "score": float(score),
                   "n_train": len(train_set), "n_synthetic": len(synthetic), "near_copy_share": share,
                   "near_copy_share_real": share_real, "gen_seconds": round(seconds, 1),
                   "downstream_seconds": round(time.perf_counter() - t0, 1), **(info or {})})

    def want(*methods):
        return any((seed, m) not in done for m in methods)

    def lora(pool_mode: str):
        t0 = time.perf_counter()
        c = fresh_ctx()
        strat = LoraStrategy(r=8, alpha=16, epochs=args.lora_epochs, lr=0.002, pool=pool_mode,
                             scratch={"epochs": args.scratch_epochs})
        gen = strat.fit(PromptGenerator(model=None, temperature=1.0, top_p=0.95, max_new_tokens=40, batch_size=32,
                                        device="cpu"), labelled, c)
        out = gen.generate(conds, seed=seed, context=c)
        ref = list(c.generator_train.records) if c.generator_train is not None else list(labelled.records)
        return out, ref, time.perf_counter() - t0

    if want("real"):
        emit("real", [])
    if want("nlpaug"):
        t0 = time.perf_counter()
        aug = NlpaugGenerator()
        aug.fit(labelled, ctx)
        emit("nlpaug", aug.generate(conds, seed=seed, context=ctx), seconds=time.perf_counter() - t0)
    if want("lora"):
        out, ref, secs = lora("none")
        emit("lora", out, reference=ref, seconds=secs)
    if want("lora-pool-texts"):
        out, ref, secs = lora("texts")
        emit("lora-pool-texts", out, reference=ref, seconds=secs)
    if want("self-training", "lora-pool-pl", "lora-pool-pl+pool"):
        kept, summary = pseudo_label(labelled, pool, ctx, PseudoLabelParams(classifier="logistic", keep=0.8))
        info = {"pseudo_label_accuracy": label_accuracy(kept, hidden), "pseudo_labelled": len(kept)}
        if want("self-training"):
            emit("self-training", [], extra_train=kept, info=info)
        if want("lora-pool-pl", "lora-pool-pl+pool"):
            out, ref, secs = lora("pseudo-label")
            emit("lora-pool-pl", out, reference=ref, seconds=secs, info=info)
            emit("lora-pool-pl+pool", out, extra_train=kept, reference=ref, seconds=secs, info=info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=5, help="labelled texts per class")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--scratch-epochs", type=int, default=40)
    ap.add_argument("--lora-epochs", type=int, default=10)
    ap.add_argument("--ratio", type=int, default=5, help="synthetic texts per real one")
    ap.add_argument("-o", "--output", default="runs/novelty-text")
    args = ap.parse_args()
    out = Path(args.output)
    rows, done, write = resume_rows(out, list(MODELS)[-1], "acc")
    header = (f"text.builtin, k={args.k} (+ pool), scratch epochs {args.scratch_epochs}, LoRA epochs "
              f"{args.lora_epochs}, ratio {args.ratio}")
    for seed in args.seeds:
        run_seed(args, seed, done, write)
        summarize_rows(rows, out, header, METHODS, list(MODELS), "accuracy", "nlpaug")
    print(summarize_rows(rows, out, header, METHODS, list(MODELS), "accuracy", "nlpaug"))


if __name__ == "__main__":
    main()
