"""Training on a busy machine: the entry point's procedure with its deliberate thread count
(--threads 1) against every core, while CPU hogs keep all cores busy; same run, alternated.

    .venv/bin/python bench/bench_threads.py [--rounds 3] [--hogs N]

Reference: a HistGradientBoosting fit (the previous model) with OpenMP's default thread count
against one thread: OpenMP workers spin waiting for each other on cores the hogs hold, which is
how a default-threaded fit slows down many times on a loaded host. Target: the procedure at
--threads 1 is no slower under load than with all cores (ratio <= 1). Fit times are wall time.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _hog(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=2 * (os.cpu_count() or 1))
    args = parser.parse_args(argv)

    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from pipeline_src import train
    from pipeline_src.contract import LABEL, feature_names
    from pipeline_src.sample_data import generate, split

    cores = os.cpu_count() or 1
    parts = split(generate(50_000, 42), 42)
    X = parts["train"][feature_names()].to_numpy(float)
    y = parts["train"][LABEL].to_numpy()
    common = ["--train", ".", "--validation", ".", "--model-dir", ".", "--output-data-dir", "."]

    def procedure(threads):
        train.train(parts["train"], parts["validation"],
                    train.parse_args(common + ["--threads", str(threads)]))

    def hgb(threads):
        with threadpool_limits(limits=threads):
            HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=8, early_stopping=False,
                                           random_state=0).fit(X, y)

    cases = {f"procedure, --threads 1": lambda: procedure(1),
             f"procedure, --threads {cores}": lambda: procedure(cores),
             "reference HGB, 1 thread": lambda: hgb(1),
             f"reference HGB, OpenMP default ({cores})": lambda: hgb(None)}
    times = {name: [] for name in cases}
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_hog, args=(stop,), daemon=True)
            for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    try:
        for _ in range(args.rounds):
            for name, run in cases.items():
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    finally:
        stop.set()
        for hog in hogs:
            hog.join()
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{cores} cores, {args.hogs} CPU hogs, median of {args.rounds} (wall s, spread)")
    for name, t in times.items():
        print(f"{name:<40}{medians[name]:>8.2f}   [{min(t):.2f} .. {max(t):.2f}]")
    ratio = medians["procedure, --threads 1"] / medians[f"procedure, --threads {cores}"]
    reference = (medians[f"reference HGB, OpenMP default ({cores})"]
                 / medians["reference HGB, 1 thread"])
    print(f"procedure --threads 1 / all cores: {ratio:.2f} (target <= 1); "
          f"reference HGB default threads / 1 thread: {reference:.1f}x")
    return 0 if ratio <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
