"""Synth speed: the full app (every environment) against a one-resource app, in the same run.

Each command runs as a fresh process (what a user or CI pays), alternating A B A B ... so drift
on a noisy machine hits both alike; the figure that matters is the ratio of medians.
Target: full synth <= 1.5x the one-resource app. Also shown, for scale: the one-resource app
with the ordinary provider import (the whole package __init__).

    .venv/bin/python bench/bench_synth.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as outdir:
        full = [sys.executable, "main.py", "synth", "--outdir", outdir]
        reference = [sys.executable, "bench/one_resource_app.py"]
        timed(full, env), timed(reference, env)  # warm-up: page cache, .pyc files
        full_times, reference_times = [], []
        for _ in range(args.runs):
            full_times.append(timed(full, env))
            reference_times.append(timed(reference, env))
        ordinary = timed(reference, {**env, "MLOPS_FULL_PROVIDER_IMPORT": "1"})
    ratios = [f / r for f, r in zip(full_times, reference_times)]
    result = {
        "runs": args.runs,
        "full_synth_median_s": round(statistics.median(full_times), 3),
        "one_resource_median_s": round(statistics.median(reference_times), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "one_resource_ordinary_import_s": round(ordinary, 3),
        "target_ratio": TARGET_RATIO,
    }
    print(f"full synth (all environments): median {result['full_synth_median_s']:.2f} s")
    print(f"one-resource app:              median {result['one_resource_median_s']:.2f} s")
    print(f"ratio full / one-resource:     median {result['ratio_median']:.2f} "
          f"(min {result['ratio_min']:.2f}, max {result['ratio_max']:.2f}; target <= "
          f"{TARGET_RATIO})")
    print(f"one-resource app, ordinary provider import: {ordinary:.2f} s "
          f"({ordinary / result['one_resource_median_s']:.1f}x the fast import)")
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ratio_median"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
