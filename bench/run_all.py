"""Run every benchmark under bench/ (bench_*.py), each in its own process; report exit codes.

    python bench/run_all.py [--quick]

--quick sets BENCH_QUICK=1 for the benchmarks that have a smaller mode (bench_monitor.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ, **({"BENCH_QUICK": "1"} if "--quick" in argv else {}))
    failures = []
    for script in sorted(BENCH.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, env=env).returncode:
            failures.append(script.name)
    if failures:
        print(f"targets missed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
