"""``gda bench``: one protocol across modalities, run seeds, paired intervals, copies and cost.

A :class:`Suite` fixes a protocol (data, k-shot, split rule, generators, selectors, downstream
models, metrics); plugins register suites through the ``register_bench_suites`` hook. The runner
turns a suite into cells (one generation per run seed and generator variant), each written
atomically so that a killed bench resumes; :mod:`.stats` compares methods paired by run seed and
:mod:`.report` writes ``results.csv``, ``results.md`` and one PNG per suite.
"""

from __future__ import annotations

from .suite import (
    FAMILIES,
    DownstreamModel,
    Method,
    Suite,
    family_method,
    get_suite,
    keep_sweeps,
    linear_and_svm,
    near_copy_method,
    pool_methods,
    selector_method,
    selector_methods,
    selector_sweep,
    self_train_gen_method,
    standard_methods,
    suites,
)

__all__ = ["FAMILIES", "DownstreamModel", "Method", "Suite", "family_method", "get_suite", "keep_sweeps",
           "linear_and_svm", "near_copy_method", "pool_methods", "selector_method", "selector_methods",
           "selector_sweep", "self_train_gen_method", "standard_methods", "suites"]
