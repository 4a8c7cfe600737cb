"""Model benchmark: the pipeline's classifier against the reference's RandomForest(100, depth 10),
trained and evaluated on the same split of the reference's 50k-row data set, in the same run.

    .venv/bin/python bench/bench_model.py [--repeats 2000]

Targets: PR-AUC at least equal, training time at most 1/3, single-row predict_fn latency at most
1/2. Also reports PR-AUC over five other seeded splits, since the 30 test frauds make one split's
PR-AUC noisy. Writes bench/results/bench_model.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed_fit(estimator, X, y) -> float:
    started = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - started


def latency_ms(model, row, repeats: int) -> float:
    from pipeline_src.inference import predict_fn

    for _ in range(50):
        predict_fn(row, model)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats // 5):
            predict_fn(row, model)
        samples.append((time.perf_counter() - started) / (repeats // 5) * 1000)
    return statistics.median(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args(argv)

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import average_precision_score

    from pipeline_src import train
    from pipeline_src.contract import LABEL, feature_names
    from pipeline_src.inference import compile_trees
    from pipeline_src.sample_data import generate, split

    features = feature_names()
    defaults = train.parse_args(["--train", ".", "--validation", ".", "--model-dir", ".",
                                 "--output-data-dir", "."])
    results = {"splits": []}
    for seed in (42, 0, 1, 2, 3, 4):
        s = split(generate(50_000, 42), seed)
        X_train, y_train = s["train"][features].to_numpy(float), s["train"][LABEL].to_numpy()
        X_test, y_test = s["test"][features].to_numpy(float), s["test"][LABEL].to_numpy()

        rf = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=42)
        rf_fit = timed_fit(rf, X_train, y_train)
        ours = train.build_estimator(defaults)
        ours_fit = timed_fit(ours, X_train, y_train)
        # Threshold from validation, as the entry point does.
        X_val, y_val = s["validation"][features].to_numpy(float), s["validation"][LABEL].to_numpy()
        row = {
            "seed": seed,
            "rf_pr_auc": average_precision_score(y_test, rf.predict_proba(X_test)[:, 1]),
            "ours_pr_auc": average_precision_score(y_test, ours.predict_proba(X_test)[:, 1]),
            "rf_fit_s": rf_fit, "ours_fit_s": ours_fit,
        }
        if seed == 42:
            rf_model = {"estimator": rf, "threshold": 0.5, "fast": None}
            ours_model = {"estimator": ours, "fast": compile_trees(ours),
                          "threshold": train.choose_threshold(
                              y_val, ours.predict_proba(X_val)[:, 1])}
            one = X_test[:1]
            row["rf_latency_ms"] = latency_ms(rf_model, one, args.repeats // 4)
            row["ours_latency_ms"] = latency_ms(ours_model, one, args.repeats)
            row["ours_sklearn_latency_ms"] = latency_ms(dict(ours_model, fast=None), one,
                                                        args.repeats // 4)
        results["splits"].append(row)

    main_split = results["splits"][0]
    others = results["splits"][1:]
    summary = {
        "pr_auc_rf": main_split["rf_pr_auc"], "pr_auc_ours": main_split["ours_pr_auc"],
        "pr_auc_ratio": main_split["ours_pr_auc"] / main_split["rf_pr_auc"],
        "fit_s_rf": main_split["rf_fit_s"], "fit_s_ours": main_split["ours_fit_s"],
        "fit_ratio": main_split["ours_fit_s"] / main_split["rf_fit_s"],
        "latency_ms_rf": main_split["rf_latency_ms"], "latency_ms_ours": main_split["ours_latency_ms"],
        "latency_ratio": main_split["ours_latency_ms"] / main_split["rf_latency_ms"],
        "latency_ms_ours_via_sklearn": main_split["ours_sklearn_latency_ms"],
        "other_splits_mean_pr_auc_rf": statistics.mean(r["rf_pr_auc"] for r in others),
        "other_splits_mean_pr_auc_ours": statistics.mean(r["ours_pr_auc"] for r in others),
    }
    results["summary"] = summary
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_model.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"{'pipeline split (seed 42)':<34}{'RF(100, d10)':>14}{'ours (HGB)':>12}{'ratio':>8}  target")
    print(f"{'PR-AUC (test, 30 frauds)':<34}{summary['pr_auc_rf']:>14.4f}{summary['pr_auc_ours']:>12.4f}"
          f"{summary['pr_auc_ratio']:>8.2f}  >= 1.00")
    print(f"{'training time (s)':<34}{summary['fit_s_rf']:>14.3f}{summary['fit_s_ours']:>12.3f}"
          f"{summary['fit_ratio']:>8.3f}  <= 0.33")
    print(f"{'single-row predict_fn (ms)':<34}{summary['latency_ms_rf']:>14.3f}"
          f"{summary['latency_ms_ours']:>12.3f}{summary['latency_ratio']:>8.3f}  <= 0.50")
    print(f"(ours through scikit-learn's predict_proba: {summary['latency_ms_ours_via_sklearn']:.3f} ms)")
    print(f"PR-AUC mean over 5 other splits: RF {summary['other_splits_mean_pr_auc_rf']:.4f}, "
          f"ours {summary['other_splits_mean_pr_auc_ours']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
