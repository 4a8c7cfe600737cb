"""A new user's first `make run`: fresh clone, empty package caches, uv path against pip path.

Each run clones the committed HEAD into a temporary folder and gives it its own empty
UV_CACHE_DIR and PIP_CACHE_DIR, then times, wall clock, everything until the local ML run ends:
  uv   `make run` as the README says (uv bootstrapped from PyPI, `uv sync` of uv.lock, synth,
       run-local);
  pip  the pip path it replaced: `python3 -m venv .venv`, `pip install -r` the packages `make run`
       installs (uv.lock's [project.dependencies] exported before the clock starts, same pins and
       hashes; requirements.txt holds every dependency group too), then the same synth and
       run-local. pip compiles bytecode as it installs (its default); `make run` does not;
  uv-offline  `UV_OFFLINE=1 make run` in another fresh clone that reuses the uv run's cache:
       a second checkout on the same machine, installing with no index access at all.
Runs alternate pip, uv, uv-offline so drift on a shared machine hits all alike; the figure
that ranks is the uv/pip ratio of each pair. Downloads dominate the cold runs, so the
registry's speed moves both; report the spread. Target: uv `make run` <= 60 s.

    python3 bench/bench_first_run.py [--runs N] [--paths pip,uv,uv-offline]
        (N rounds, default 2; ~3-6 min each on a quiet machine, all three paths by default)

Each line gives the 1-minute load average when the run ended, and the JSON summary the CPU time
(user + system of every process a step ran) beside the wall time (a shared machine: wall time
above CPU time is waiting, for the network or for a core). The uv `make run` is timed in its phases, the Makefile's own targets in
the order `make run` runs them: uv bootstrap (`make .venv-uv/bin/uv`), `uv sync` (`make
setup-run`), `make synth`, `make local` (run-local); their sum is the `make run` figure.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 60.0
PYTHON = os.environ.get("PYTHON", "python3")
LOCAL_RUN = ["main.py", "run-local", "--workdir", ".work/local-run"]
UV = ROOT / ".venv-uv" / "bin" / "uv"  # only to export the pip path's requirements
# `make run`, target by target (Makefile: run = setup-run, then the synth and local recipes).
MAKE_RUN_PHASES = (".venv-uv/bin/uv", "setup-run", "synth", "local")


def fresh_clone(parent: Path, name: str) -> Path:
    clone = parent / name
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    return clone


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_steps(steps: list[list[str]], cwd: Path, env: dict, log: Path,
              phases: dict | None = None) -> float:
    """Run the steps in order; wall time of all. phases: {step label: [(wall, cpu), ...]}."""
    started = time.perf_counter()
    with log.open("w") as out:
        for step in steps:
            step_started, cpu_before = time.perf_counter(), _children_cpu()
            proc = subprocess.run(step, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
            if proc.returncode:
                raise SystemExit(f"error: {' '.join(step)} failed in {cwd} (exit {proc.returncode}); see {log}")
            if phases is not None:
                label = " ".join(step[:2])
                phases.setdefault(label, []).append(
                    (time.perf_counter() - step_started, _children_cpu() - cpu_before))
    elapsed = time.perf_counter() - started
    print(f"{log.stem}: {elapsed:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--paths", default="pip,uv,uv-offline",
                        help="which paths to time, comma-separated (default: all three; the pip "
                             "path alone takes several minutes a round on a loaded machine)")
    args = parser.parse_args()
    if not UV.exists():
        raise SystemExit(f"error: {UV} missing; run `make setup` first")
    paths = [p for p in args.paths.split(",") if p]
    if not paths or set(paths) - {"pip", "uv", "uv-offline"}:
        raise SystemExit(f"error: --paths {args.paths!r}: choose from pip, uv, uv-offline")
    times: dict[str, list[float]] = {path: [] for path in paths}
    phases: dict[str, list[tuple[float, float]]] = {}
    logs = ROOT / "bench" / "results" / "first-run"  # kept: a failed step names its log
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="first-run-") as tmp:
        tmp = Path(tmp)
        for i in range(args.runs):
            caches = {kind: tmp / f"{kind}-cache-{i}" for kind in ("pip", "uv")}
            base = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
            pip_env = {**base, "PIP_CACHE_DIR": str(caches["pip"] / "pip"), "UV_CACHE_DIR": str(caches["pip"] / "uv")}
            uv_env = {**base, "PIP_CACHE_DIR": str(caches["uv"] / "pip"), "UV_CACHE_DIR": str(caches["uv"] / "uv")}

            if "pip" in times:
                clone = fresh_clone(tmp, f"pip-{i}")
                run_set = clone / ".work" / "requirements-run.txt"
                run_set.parent.mkdir()
                subprocess.run([str(UV), "export", "--frozen", "--quiet", "--no-emit-project", "--no-default-groups",
                                "--project", str(clone), "-o", str(run_set)], check=True, env=pip_env)
                times["pip"].append(run_steps([
                    [PYTHON, "-m", "venv", ".venv"],
                    [".venv/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                     "-r", str(run_set)],
                    [".venv/bin/python", "main.py", "synth"],
                    [".venv/bin/python", *LOCAL_RUN],
                ], clone, pip_env, logs / f"pip-{i}.log"))

            if "uv" in times:
                clone = fresh_clone(tmp, f"uv-{i}")
                times["uv"].append(run_steps([["make", target, f"PYTHON={PYTHON}"] for target in MAKE_RUN_PHASES],
                                             clone, uv_env, logs / f"uv-{i}.log", phases))

            if "uv-offline" in times:  # reuses the uv run's cache
                clone = fresh_clone(tmp, f"uv-offline-{i}")
                times["uv-offline"].append(run_steps([["make", "run", f"PYTHON={PYTHON}"]], clone,
                                                     {**uv_env, "UV_OFFLINE": "1"}, logs / f"uv-offline-{i}.log"))
            print(f"round {i + 1}: " + ", ".join(f"{kind} {values[-1]:.1f} s" for kind, values in times.items()),
                  flush=True)
    ratios = [u / p for u, p in zip(times.get("uv", []), times.get("pip", []))]
    result = {"runs": args.runs, "load_at_end": round(os.getloadavg()[0], 1), "target_uv_s": TARGET_S, "ratio_uv_over_pip": [round(r, 3) for r in ratios]}
    for kind, values in times.items():
        result[kind] = {"median_s": round(statistics.median(values), 1), "min_s": round(min(values), 1),
                        "max_s": round(max(values), 1)}
    result["uv_phases"] = {label: {"wall_median_s": round(statistics.median(w for w, _ in runs), 1),
                                   "cpu_median_s": round(statistics.median(c for _, c in runs), 1)}
                           for label, runs in phases.items()}
    if phases:
        per_run = [sum(runs[i][1] for runs in phases.values()) for i in range(len(times["uv"]))]
        result["uv_cpu_median_s"] = round(statistics.median(per_run), 1)
    print(json.dumps(result, indent=2))
    if "uv" not in times:
        return 0
    uv_median = result["uv"]["median_s"]
    line = f"uv make run median {uv_median:.1f} s"
    if ratios:
        line += (f" vs pip path {result['pip']['median_s']:.1f} s: ratio median {statistics.median(ratios):.2f} "
                 f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"{line}; target uv <= {TARGET_S:.0f} s: {'met' if uv_median <= TARGET_S else 'MISSED'}")
    return 0 if uv_median <= TARGET_S else 1

if __name__ == "__main__":
    sys.exit(main())
