"""Serving benchmark: single-row latency through the scikit-learn container's HTTP stack
(nginx -> gunicorn/gevent -> sagemaker-containers/Flask -> transform_fn), the pipeline's model
beside the reference's RandomForest(100, depth 10) served the same way, in the same run.

    make container-setup && .venv/bin/python bench/bench_serving.py [--rounds 7] [--requests 300]

Both models are trained on the same split of the reference's 50k-row data set and served by the
container's packages (.venv-container, tests/container/serving.py) with the environment the model
package gives the container. Requests alternate between the two servers, one at a time, so both
see the same machine load; each round gives p50 and p99 per server. Reported: the median over
rounds with its spread (min..max), and the per-round ratio this model / reference. Target: the
p50 ratio below 1 in every round (the figure ranks the two). Writes
bench/results/bench_serving.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _import_test_harness():
    """tests/ is not a package, and a dependency installs a top-level `tests` package of its
    own; point the name at ours so the container harness (tests/container) imports."""
    import types

    package = types.ModuleType("tests")
    package.__path__ = [str(ROOT / "tests")]
    sys.modules["tests"] = package


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def train_models(out: Path) -> dict[str, Path]:
    from sklearn.ensemble import RandomForestClassifier

    from pipeline_src import train
    from pipeline_src.contract import LABEL, feature_names
    from pipeline_src.model_io import save_model
    from pipeline_src.sample_data import generate, split

    splits = split(generate(50_000, seed=42), seed=42)
    features = feature_names()
    args = train.parse_args(["--train", ".", "--validation", ".", "--model-dir", ".",
                             "--output-data-dir", "."])
    estimator, metadata = train.train(splits["train"], splits["validation"], args)
    save_model(out / "model", estimator, metadata)
    forest = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=42, n_jobs=1)
    forest.fit(splits["train"][features].to_numpy(dtype=float), splits["train"][LABEL].to_numpy())
    save_model(out / "reference", forest, dict(metadata, threshold=0.5,
                                              estimator=type(forest).__name__))
    return {"this model": out / "model", "reference RandomForest": out / "reference"}, splits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="per server and round")
    args = parser.parse_args(argv)

    from pipeline_src.contract import feature_names
    from pipeline_src.jobs.common import serving_environment

    _import_test_harness()
    from tests.container.conftest import CONTAINER_PYTHON
    from tests.container.serving import Server

    if not CONTAINER_PYTHON.is_file():
        print("error: .venv-container missing; run `make container-setup` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        models, splits = train_models(Path(tmp))
        rows = splits["test"][feature_names()].to_numpy(dtype=float)[:args.requests]
        bodies = [",".join(repr(float(v)) for v in row).encode() for row in rows]
        servers = {name: Server(path, serving_environment("eu-west-1")) for name, path in
                   models.items()}
        try:
            for server in servers.values():
                server.start()
            for server in servers.values():  # warm every worker
                for body in bodies[:50]:
                    assert server.invoke(body, "text/csv")[0] == 200
            rounds = []
            for _ in range(args.rounds):
                samples = {name: [] for name in servers}
                for body in bodies:
                    for name, server in servers.items():
                        started = time.perf_counter()
                        status = server.invoke(body, "text/csv")[0]
                        samples[name].append((time.perf_counter() - started) * 1000)
                        assert status == 200
                rounds.append({name: {"p50": percentile(s, 0.5), "p99": percentile(s, 0.99)}
                               for name, s in samples.items()})
        finally:
            for server in servers.values():
                server.stop()

    names = list(models)
    summary = {}
    print(f"single-row text/csv over HTTP, {args.rounds} rounds x {args.requests} requests "
          "per server (ms; median over rounds, min..max)")
    for name in names:
        summary[name] = {}
        for q in ("p50", "p99"):
            values = [r[name][q] for r in rounds]
            summary[name][q] = {"median": statistics.median(values), "min": min(values),
                                "max": max(values)}
        print(f"  {name:<24} p50 {summary[name]['p50']['median']:.2f} "
              f"({summary[name]['p50']['min']:.2f}..{summary[name]['p50']['max']:.2f})  "
              f"p99 {summary[name]['p99']['median']:.2f} "
              f"({summary[name]['p99']['min']:.2f}..{summary[name]['p99']['max']:.2f})")
    ratios = {q: [r[names[0]][q] / r[names[1]][q] for r in rounds] for q in ("p50", "p99")}
    for q, values in ratios.items():
        summary[f"ratio_{q}"] = {"median": statistics.median(values), "min": min(values),
                                 "max": max(values)}
        print(f"  ratio {q} (this model / reference): {statistics.median(values):.2f} "
              f"({min(values):.2f}..{max(values):.2f})")
    met = max(ratios["p50"]) < 1.0
    print(f"target p50 ratio < 1 in every round: {'met' if met else 'MISSED'}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "bench_serving.json").write_text(json.dumps(
        {"rounds": rounds, "summary": summary, "requests": args.requests}, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
