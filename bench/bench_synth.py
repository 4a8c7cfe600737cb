"""Synth speed under both flavours: the full app (every environment) against a one-resource app,
under CDKTF (.venv) and under CDK Terrain (.venv-cdktn, MLOPS_CDK_FLAVOUR=cdktn), in one run.

Each command runs as a fresh process (what a user or CI pays); the four commands alternate
(cdktf full, cdktf reference, cdktn full, cdktn reference, ...) so drift on a noisy machine hits
all alike; the figures that matter are ratios of medians. Target, per flavour: full synth <= 1.5x
the one-resource app of the same flavour. Also shown: cdktn full / cdktf full, and, for scale,
the cdktf one-resource app with the ordinary provider import (the whole package __init__).

.venv has its bytecode compiled at install; .venv-cdktn does not (envs/cdktn/pyproject.toml), so
its runs are allowed to cache bytecode (PYTHONDONTWRITEBYTECODE dropped): the warm-up run writes
the .pyc files of the modules synthesis imports, as Python does by default.

    .venv/bin/python bench/bench_synth.py [--runs N]      (make cdktn-setup first)
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
sys.path.insert(0, str(ROOT))

from infra import bindings  # noqa: E402

TARGET_RATIO = 1.5
CDKTN_PYTHON = ROOT / ".venv-cdktn" / "bin" / "python"


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def summary(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3)}


def ratio(numerators: list[float], denominators: list[float]) -> dict:
    values = [n / d for n, d in zip(numerators, denominators)]
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not CDKTN_PYTHON.exists():
        print("error: .venv-cdktn is missing; run: make cdktn-setup", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items()
           if k not in (bindings.FLAVOUR_ENV, bindings.FULL_IMPORT_ENV)}
    cdktn_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cdktn_env[bindings.FLAVOUR_ENV] = "cdktn"
    with tempfile.TemporaryDirectory() as outdir:
        commands = {
            "cdktf_full": ([sys.executable, "main.py", "synth", "--outdir", outdir], env),
            "cdktf_one_resource": ([sys.executable, "bench/one_resource_app.py"], env),
            "cdktn_full": ([str(CDKTN_PYTHON), "main.py", "synth", "--outdir", outdir],
                           cdktn_env),
            "cdktn_one_resource": ([str(CDKTN_PYTHON), "bench/one_resource_app.py"], cdktn_env),
        }
        for cmd, cmd_env in commands.values():  # warm-up: page cache, .pyc files
            timed(cmd, cmd_env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, cmd_env) in commands.items():
                times[name].append(timed(cmd, cmd_env))
        ordinary = timed(commands["cdktf_one_resource"][0],
                         {**env, bindings.FULL_IMPORT_ENV: "1"})
    result = {
        "runs": args.runs,
        **{name: summary(values) for name, values in times.items()},
        "cdktf_ratio_full_to_one_resource": ratio(times["cdktf_full"],
                                                  times["cdktf_one_resource"]),
        "cdktn_ratio_full_to_one_resource": ratio(times["cdktn_full"],
                                                  times["cdktn_one_resource"]),
        "ratio_cdktn_full_to_cdktf_full": ratio(times["cdktn_full"], times["cdktf_full"]),
        "cdktf_one_resource_ordinary_import_s": round(ordinary, 3),
        "target_ratio": TARGET_RATIO,
    }
    for name in commands:
        print(f"{name:<20} median {result[name]['median_s']:.2f} s "
              f"(min {result[name]['min_s']:.2f}, max {result[name]['max_s']:.2f})")
    for flavour in ("cdktf", "cdktn"):
        r = result[f"{flavour}_ratio_full_to_one_resource"]
        print(f"{flavour}: ratio full / one-resource: median {r['median']:.2f} "
              f"(min {r['min']:.2f}, max {r['max']:.2f}; target <= {TARGET_RATIO})")
    r = result["ratio_cdktn_full_to_cdktf_full"]
    print(f"cdktn full / cdktf full: median {r['median']:.2f} (min {r['min']:.2f}, "
          f"max {r['max']:.2f})")
    print(f"cdktf one-resource app, ordinary provider import: {ordinary:.2f} s "
          f"({ordinary / result['cdktf_one_resource']['median_s']:.1f}x the fast import)")
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    met = all(result[f"{f}_ratio_full_to_one_resource"]["median"] <= TARGET_RATIO
              for f in ("cdktf", "cdktn"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
