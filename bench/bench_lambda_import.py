"""Cold import of the deploy Lambda's handler, against a fresh interpreter that imports boto3 only.

What Lambda pays on a cold start before the first invocation: a fresh interpreter importing
`lambda_deploy.handler`. The package is copied without __pycache__ and run with
PYTHONDONTWRITEBYTECODE=1, as from the deployment zip (no .pyc, read-only /var/task), so its
modules are compiled on every run; boto3 keeps its installed .pyc, as the Lambda runtime's does.
Commands alternate A B A B ... in this one process; the figure that matters is the median ratio.
Targets: ratio <= 1.3 and absolute median < 1 s.

    .venv/bin/python bench/bench_lambda_import.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "lambda_import.json"
TARGET_RATIO = 1.3
TARGET_SECONDS = 1.0


def timed(code: str, cwd: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as task_root:
        shutil.copytree(ROOT / "lambda_deploy", Path(task_root) / "lambda_deploy",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": task_root,
               "AWS_REGION": "eu-west-1"}
        handler, boto3_only, bare = "import lambda_deploy.handler", "import boto3", "pass"
        timed(handler, task_root, env), timed(boto3_only, task_root, env)  # warm the page cache
        handler_times, boto3_times = [], []
        for _ in range(args.runs):
            handler_times.append(timed(handler, task_root, env))
            boto3_times.append(timed(boto3_only, task_root, env))
        bare_time = statistics.median(timed(bare, task_root, env) for _ in range(3))
    ratios = [h / b for h, b in zip(handler_times, boto3_times)]
    result = {
        "runs": args.runs,
        "handler_import_median_s": round(statistics.median(handler_times), 3),
        "boto3_import_median_s": round(statistics.median(boto3_times), 3),
        "bare_interpreter_s": round(bare_time, 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "target_ratio": TARGET_RATIO, "target_seconds": TARGET_SECONDS,
    }
    print(f"import lambda_deploy.handler: median {result['handler_import_median_s']:.3f} s")
    print(f"import boto3 only:            median {result['boto3_import_median_s']:.3f} s")
    print(f"bare interpreter:             {result['bare_interpreter_s']:.3f} s")
    print(f"ratio handler / boto3:        median {result['ratio_median']:.2f} "
          f"(min {result['ratio_min']:.2f}, max {result['ratio_max']:.2f}; target <= "
          f"{TARGET_RATIO})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    met = result["ratio_median"] <= TARGET_RATIO \
        and result["handler_import_median_s"] < TARGET_SECONDS
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
