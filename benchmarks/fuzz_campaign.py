"""A long property-based fuzz campaign over gda's configs, data and whole runs (issue 23).

It draws from the same hypothesis strategies as ``tests/core/test_fuzz.py`` (whole runs on tiny and
degenerate data reaching every core selector, validator, embedder, strategy and classifier; config
mappings, config files, ``--set``, CSV tables, array files), but where the test stops at the first
exception this campaign goes on and counts: configs run, clean errors (one-line GDAError), correct
results, wrong results (a run that ended without its steps done or its report), tracebacks (any
other exception; each logged with its config and traceback to ``--log``).

    nice -n 10 python benchmarks/fuzz_campaign.py --runs 3000 --each 3000 --seed 1 --log /tmp/fuzz.jsonl

Several processes with different ``--seed`` split a campaign; ``--summary`` adds up their logs.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3000, help="whole runs (drawn run configs)")
    ap.add_argument("--each", type=int, default=0, help="cases of each cheap kind (config, file, --set, table)")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (one per process of a split campaign)")
    ap.add_argument("--log", type=Path, required=True, help="one JSON line per case")
    ap.add_argument("--summary", type=Path, nargs="*", help="only add up these logs")
    args = ap.parse_args(argv)
    if args.summary:
        return summarize(args.summary)

    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from gda_core.config import apply_overrides, load_yaml, resolve
    from gda_core.errors import GDAError
    from tests.core import test_fuzz as fz
    from tests.core.helpers import small_config

    log = args.log.open("a")

    def attempt(kind: str, fn, describe) -> None:
        t0 = time.perf_counter()
        row: dict = {"kind": kind}
        before = collections.Counter(fz.REACHED)
        try:
            fn()
        except GDAError as exc:
            msg = str(exc).strip()
            row["outcome"] = "clean error" if msg and "\n" not in msg else "error not one line"
            row["message"] = msg[:300]
            if kind == "run":  # to read back why a drawn run was refused
                row["config"] = describe()
        except AssertionError as exc:  # one_run's checks: steps not all done, no report
            row.update(outcome="wrong result", message=repr(exc)[:300], config=describe())
        except Exception as exc:  # noqa: BLE001 - the campaign counts every other exception as a traceback
            row.update(outcome="traceback", message=f"{type(exc).__name__}: {exc}"[:300], config=describe(),
                       traceback=traceback.format_exc()[-4000:])
        else:
            row["outcome"] = "correct"
        row["seconds"] = round(time.perf_counter() - t0, 3)
        reached = collections.Counter(fz.REACHED) - before
        if reached:
            row["reached"] = dict(reached)
        log.write(json.dumps(row, default=str) + "\n")
        log.flush()

    opts = dict(deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))

    def campaign(kind: str, strategy, fn, n: int) -> None:
        if n <= 0:
            return

        @seed(args.seed)
        @settings(max_examples=n, **opts)
        @given(strategy)
        def go(case):
            attempt(kind, lambda: fn(case), lambda: case)

        go()

    campaign("run", st.tuples(fz.run_configs(), st.integers(0, 3)), lambda c: fz.one_run(*c), args.runs)
    campaign("config mapping", fz.configs, resolve, args.each)

    def config_file(text):
        path = fz.SCRATCH / "config.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        resolve(load_yaml(path))

    campaign("config file", st.text(max_size=200) | fz.configs.map(lambda d: fz.yaml.safe_dump(d, allow_unicode=True))
             | st.binary(max_size=120).map(lambda b: b.decode("latin-1")), config_file, args.each)
    campaign("--set", st.lists(fz.valid_sets | fz.overrides, min_size=1, max_size=3),
             lambda items: resolve(apply_overrides(small_config(), items)), args.each)

    def csv_table(case):
        data, params, generator = case
        path = fz.SCRATCH / "t.csv"
        path.write_bytes(data)
        fz._load(small_config(dataset={"name": "core.table", "params": {"path": str(path), **params}},
                              generator=generator, generate={"per_class": 3}))

    params = st.sampled_from([{}, {"feature_columns": ["a"]}, {"label_column": "x"}])
    generators = st.sampled_from(["core.gmm", "core.kde"])
    campaign("csv table", st.tuples(fz.tables(), params, generators), csv_table, args.each)
    log.close()
    return summarize([args.log])


def summarize(logs: list[Path]) -> int:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    bad = []
    seconds = 0.0
    reached: collections.Counter = collections.Counter()
    for path in logs:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            counts[row["kind"]][row["outcome"]] += 1
            seconds += row.get("seconds", 0)
            reached.update(row.get("reached", {}))
            if row["outcome"] not in ("correct", "clean error"):
                bad.append(row)
    total = sum(sum(c.values()) for c in counts.values())
    print(f"{total} cases, {seconds:.0f} s in cases")
    for kind, c in sorted(counts.items()):
        print(f"  {kind}: {sum(c.values())} run: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print("  whole runs that reached: " + ", ".join(f"{k} {v}" for k, v in sorted(reached.items())))
    for row in bad[:20]:
        print(f"  {row['outcome']} ({row['kind']}): {row['message']}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
