"""Single-row scoring latency per model family: the serving fast path (inference.compile_fast,
what predict_fn uses) against the fitted estimator's own predict_proba, in the same run.

    .venv/bin/python bench/bench_latency.py [--rounds 7] [--requests 200] [--rows 40000]

Every family of the training entry point (pipeline_src.train.FAMILIES) is fitted with its default
hyperparameters on the same rows of the sample generator (its contract: merchant_category is
categorical, so the native-categorical boosting has subset splits to walk), one thread. Requests
are single rows of a held-out sample, each scored once by each path, the two paths interleaved
so both see the same machine load. Each round gives the median time per request of each path;
reported are the median over rounds with the spread (min..max) and the per-round ratio
predict_proba / fast path. The fast path must give the same numbers (checked on every request)
and be faster in every round for every family that has one (exit 1 otherwise). The scorecard
has no compiled form (its predict_proba is already a few numpy operations): its row shows
predict_proba only. Writes bench/results/bench_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
BLEND_TIMED = ("hist_gradient_boosting", "random_forest")


def fit_families(rows: int, seed: int):
    """{family: fitted estimator} on the sample generator's rows, and held-out request rows."""
    from threadpoolctl import threadpool_limits

    from pipeline_src import train
    from pipeline_src.contract import categorical_mask, encode, label_name
    from pipeline_src.model import make_estimator
    from pipeline_src.sample_data import generate

    data = generate(rows, seed)
    requests = encode(generate(2_000, seed + 1))
    X, y = encode(data), data[label_name()].to_numpy()
    args = train.parse_args(["--train", ".", "--validation", ".", "--model-dir", ".",
                             "--output-data-dir", "."])
    params = train.estimator_params(args)
    with threadpool_limits(limits=1):
        # The blend is timed with the two members whose fast paths are slowest (its worst case).
        models = {family: make_estimator(family, categorical_mask(), params, y, BLEND_TIMED)
                  .fit(X, y) for family in train.FAMILIES}
    return models, requests


def time_family(estimator, requests, n: int, rounds: int) -> dict:
    """Per round, the median seconds per single-row request of each path."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from pipeline_src.inference import compile_fast, predict_proba_fast

    fast = compile_fast(estimator)
    per_round = {"predict_proba": [], "fast": []}
    with threadpool_limits(limits=1):
        for r in range(rounds):
            times = {"predict_proba": [], "fast": []}
            for i in range(n):
                row = requests[(r * n + i) % len(requests)][None, :]
                started = time.perf_counter()
                expected = estimator.predict_proba(row)[:, 1]
                times["predict_proba"].append(time.perf_counter() - started)
                if fast is None:
                    continue
                started = time.perf_counter()
                got = predict_proba_fast(fast, row)
                times["fast"].append(time.perf_counter() - started)
                if not np.array_equal(got, expected):
                    raise AssertionError(f"fast path gives {got} where predict_proba gives "
                                         f"{expected} ({type(estimator).__name__})")
            for path, samples in times.items():
                if samples:
                    per_round[path].append(statistics.median(samples))
    out = {"compiled": fast is not None, "rounds": per_round}
    if fast is not None:
        out["ratios"] = [a / b for a, b in zip(per_round["predict_proba"], per_round["fast"])]
    return out


def spread(values, digits: int = 0) -> str:
    return (f"{statistics.median(values):,.{digits}f} "
            f"({min(values):,.{digits}f}..{max(values):,.{digits}f})")


def table(result: dict) -> str:
    lines = [f"{result['rows']:,} training rows (sample generator, seed {result['seed']}); "
             f"{result['rounds']} rounds x {result['requests']} single-row requests; "
             f"load {result['load_1min'][0]:.1f} -> {result['load_1min'][1]:.1f}",
             f"{'family':<32}{'predict_proba µs':>26}{'fast path µs':>26}"
             f"{'predict_proba / fast':>26}"]
    for family, r in result["families"].items():
        slow = spread([s * 1e6 for s in r["rounds"]["predict_proba"]], 1)
        if r["compiled"]:
            fast = spread([s * 1e6 for s in r["rounds"]["fast"]], 1)
            ratio = spread(r["ratios"], 2)
        else:
            fast = ratio = "no compiled form"
        lines.append(f"{family:<32}{slow:>26}{fast:>26}{ratio:>26}")
    lines.append("median over rounds (min..max over rounds)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000, help="training rows")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200, help="requests per round and path")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=RESULTS / "bench_latency.json")
    args = parser.parse_args(argv)
    if os.environ.get("BENCH_QUICK"):
        args.rows, args.rounds, args.requests = 5_000, 3, 30
    load_before = os.getloadavg()[0]
    models, requests = fit_families(args.rows, args.seed)
    families = {family: time_family(estimator, requests, args.requests, args.rounds)
                for family, estimator in models.items()}
    result = {"rows": args.rows, "seed": args.seed, "rounds": args.rounds,
              "requests": args.requests, "load_1min": [load_before, os.getloadavg()[0]],
              "families": families}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    slower = [f for f, r in families.items() if r["compiled"] and min(r["ratios"]) <= 1.0]
    if slower:
        print(f"target missed: the fast path is not faster in every round for {', '.join(slower)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
