"""Training cost as the data grows: the entry point (pipeline_src/train.py, as SageMaker runs it)
on 50k, 500k and 5M rows of the sample generator (20 features), one thread.

    nice .venv/bin/python bench/bench_scale.py                  # 50k, 500k, 5M rows
    nice .venv/bin/python bench/bench_scale.py --rows 50000 --rows 500000

Each size: the generator's rows (seed 1), split 75/25 into the train and validation channels as
CSV files, then the entry point in its own process with --threads 1; its wall time, CPU time
(user + system) and peak resident memory come from the kernel (os.wait4's rusage of that
process), so other processes on the machine do not enter the CPU figure. The machine's load
average is recorded before and after each run (on a shared machine wall time stretches with it;
CPU time does not). Growth exponent between two sizes: log(cost ratio) / log(size ratio);
n log n from 500k to 5M is an exponent of 1.07.

Targets (issue #19): 5M rows within 15 minutes (wall) and under 6 GB peak; growth no worse than
n log n. Writes bench/results/bench_scale.json. Exit 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (50_000, 500_000, 5_000_000)
SEED = 1
TARGETS = {"wall_s_5m": 15 * 60, "peak_gb": 6.0}


def write_channels(rows: int, folder: Path) -> None:
    from pipeline_src.sample_data import generate

    df = generate(rows, SEED)
    cut = int(rows * 0.75)
    for channel, part in (("train", df.iloc[:cut]), ("validation", df.iloc[cut:])):
        (folder / channel).mkdir(parents=True, exist_ok=True)
        part.to_csv(folder / channel / f"{channel}.csv", index=False)


def train_once(rows: int, folder: Path) -> dict:
    """Run the entry point on `rows` rows; its kernel-measured cost and what it chose."""
    write_channels(rows, folder)
    command = [sys.executable, str(ROOT / "pipeline_src" / "train.py"),
               "--train", str(folder / "train"), "--validation", str(folder / "validation"),
               "--model-dir", str(folder / "model"), "--output-data-dir", str(folder / "output"),
               "--threads", "1"]
    # One thread for every BLAS/OpenMP pool, also those loaded before threadpoolctl runs.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    load_before = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode()
    if process.returncode:
        raise RuntimeError(f"entry point failed at {rows} rows: {error.strip()}")
    metadata = json.loads((folder / "model" / "metadata.json").read_text())
    return {
        "rows": rows, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_gb": usage.ru_maxrss * 1024 / 1e9,  # ru_maxrss is in KiB on Linux
        "load_before": load_before, "load_after": os.getloadavg(),
        "family": metadata["model_family"],
        "selection_rows": metadata["model_selection"]["rows"],
        "candidates": {c["family"]: c.get("pr_auc")
                       for c in metadata["model_selection"]["candidates"]},
        "model_fit_s": metadata["training_metrics"]["fit_seconds"],
    }


def exponents(runs: list[dict], key: str) -> list[float]:
    return [math.log(b[key] / a[key]) / math.log(b["rows"] / a["rows"])
            for a, b in zip(runs, runs[1:])]


def table(runs: list[dict]) -> str:
    lines = [f"{'rows':>10}{'wall s':>9}{'CPU s':>9}{'peak GB':>9}{'load (1 min) before/after':>28}"
             f"{'family chosen (on rows)':>40}"]
    for r in runs:
        lines.append(f"{r['rows']:>10,}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}{r['peak_gb']:>9.2f}"
                     f"{r['load_before'][0]:>20.2f} / {r['load_after'][0]:<5.2f}"
                     f"{r['family'] + ' (' + format(r['selection_rows'], ',') + ')':>40}")
    for key in ("wall_s", "cpu_s", "peak_gb"):
        if len(runs) > 1:
            lines.append(f"growth exponent of {key}: "
                         + ", ".join(f"{a['rows']:,}->{b['rows']:,}: {e:.2f}" for a, b, e in
                                     zip(runs, runs[1:], exponents(runs, key))))
    return "\n".join(lines)


def checks(runs: list[dict]) -> dict:
    out = {"peak < 6 GB": all(r["peak_gb"] < TARGETS["peak_gb"] for r in runs)}
    largest = max(runs, key=lambda r: r["rows"])
    if largest["rows"] >= 5_000_000:
        out["5M rows within 15 min"] = largest["wall_s"] <= TARGETS["wall_s_5m"]
    if len(runs) > 1:
        # n log n between the two largest sizes.
        a, b = runs[-2], runs[-1]
        limit = 1 + math.log(math.log(b["rows"]) / math.log(a["rows"])) / math.log(b["rows"] / a["rows"])
        out[f"CPU growth <= n log n (exponent {limit:.2f})"] = exponents(runs, "cpu_s")[-1] <= limit
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="training rows (train + validation); repeatable; default 50k, 500k, 5M")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "bench_scale.json")
    args = parser.parse_args(argv)
    sizes = sorted(args.rows or SIZES)
    if sizes[0] < 5_000:
        print("error: --rows must be at least 5000", file=sys.stderr)
        return 2
    runs = []
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            runs.append(train_once(rows, Path(folder)))
        print(f"{rows:,} rows: {runs[-1]['wall_s']:.1f} s wall, {runs[-1]['cpu_s']:.1f} s CPU, "
              f"{runs[-1]['peak_gb']:.2f} GB peak, {runs[-1]['family']}", flush=True)
    results = {"runs": runs, "checks": checks(runs)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(runs))
    print("targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}"
                                  for k, ok in results["checks"].items()))
    return 0 if all(results["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
