"""Evaluation on held-out data and the quality gate.

Accuracy says nothing at a 0.3 % fraud rate (always "not fraud" scores 99.7 %), so the gate
uses ranking quality (ROC-AUC, PR-AUC) and precision / recall / F1 at the model's own
threshold, next to a no-skill baseline, and compares against the approved champion.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from pipeline_src.contract import label_name


# The CodeBuild environment variable holding the thresholds (GateThresholds.to_json()).
GATE_THRESHOLDS_ENV = "GATE_THRESHOLDS"


@dataclass(frozen=True)
class GateThresholds:
    """The quality gate's thresholds, each a fraction. infra/config.py derives the
    ``quality_gate`` settings from this type; the jobs get them as one JSON value."""

    min_pr_auc: float = field(default=0.5, metadata={"doc": "minimum PR-AUC on held-out data"})
    min_roc_auc: float = field(default=0.9, metadata={"doc": "minimum ROC-AUC"})
    min_recall: float = field(default=0.5,
                              metadata={"doc": "minimum recall at the model's threshold"})
    min_precision: float = field(default=0.3,
                                 metadata={"doc": "minimum precision at the model's threshold"})
    min_f1: float = field(default=0.4, metadata={"doc": "minimum F1 at the model's threshold"})
    champion_tolerance: float = field(default=0.02, metadata={
        "doc": "how much the approved champion's PR-AUC may exceed the challenger's"})


    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GateThresholds":
        """Parse to_json()'s output; ValueError with one line naming the problem otherwise."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or set(data) != set(names):
            raise ValueError(f"expected an object with exactly {', '.join(names)}")
        for name in names:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: {json.dumps(value)} is not a number in 0..1")
        return cls(**{name: float(data[name]) for name in names})


GATED_METRICS = ("pr_auc", "roc_auc", "recall", "precision", "f1")


def pr_auc(y_true, scores) -> float:
    """THE PR-AUC of this project (gate, report, training metrics, monitor, benchmarks): average
    precision with tied scores counted as the expectation over every order of the tied rows
    (McSherry & Najork, "Computing information retrieval performance measures efficiently in the
    presence of tied scores", ECIR 2008).

    Why this one: without ties it is exactly scikit-learn's average_precision_score; with ties,
    scikit-learn gives every fraud of a tie group the precision at the group's end, which charges
    a model for saying "these rows are alike" (the scorecard's cells, the Bayes scorer's four
    values: 0.65 against 0.73 on the sample generator), so a model that breaks the same ties by
    noise would rank above the Bayes-optimal scorer. The random-order figure has no such bias but
    varies with the seed; its expectation, computed exactly here, is deterministic.

    In a tie group of n rows holding m frauds, after N0 rows holding P0 frauds, the j-th row of
    the group is a fraud with probability m/n and, if it is, the frauds at or above it number
    P0 + 1 + (j - 1)(m - 1)/(n - 1) in expectation; its precision divides that by N0 + j.
    """
    import numpy as np

    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"pr_auc needs labels and scores of one shape, got {y.shape}, {s.shape}")
    positives = y.sum()
    if positives == 0:
        raise ValueError("pr_auc is undefined without a positive row")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group_rows = np.diff(np.r_[starts, len(s)])
    group_frauds = np.add.reduceat(y, starts)
    frauds_before = np.cumsum(group_frauds) - group_frauds
    group = np.repeat(np.arange(len(starts)), group_rows)
    n, m = group_rows[group].astype(float), group_frauds[group]
    j = np.arange(len(s)) - starts[group] + 1
    rank = np.arange(1, len(s) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = np.where(n > 1, (j - 1) * (m - 1) / (n - 1), 0.0)
    return float(((m / n) * (frauds_before[group] + 1 + others) / rank).sum() / positives)


def score(model: dict, df):
    """Fraud probabilities for a validated frame, through the same handler as serving."""
    import numpy as np

    from pipeline_src.contract import encode
    from pipeline_src.inference import predict_fn
    from pipeline_src.model_io import ModelLoadError, outside_unit_interval

    X = encode(df)
    fast = dict(model, fast=None)  # batch path: scikit-learn's own predict_proba
    scores = np.array([p["probability"] for p in predict_fn(X, fast)], dtype=float)
    # load_model checked two example rows; a score outside [0, 1] (NaN included) on any other row
    # would otherwise end in a metric's traceback or a meaningless gate decision.
    bad = outside_unit_interval(scores)
    if bad.size:
        raise ModelLoadError(f"scores {bad.size} of {len(scores)} rows outside [0, 1] "
                             f"(row {bad[0]}: {scores[bad[0]]})")
    return scores


def compute_metrics(y_true, scores, threshold: float) -> dict:
    import numpy as np
    from sklearn.metrics import (confusion_matrix, f1_score, precision_score, recall_score,
                                 roc_auc_score)

    y_true = np.asarray(y_true)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, predicted, labels=[0, 1]).ravel())
    prevalence = float(y_true.mean())
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": pr_auc(y_true, scores),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "threshold": float(threshold),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        # No-skill classifier: constant score. PR-AUC equals prevalence, ROC-AUC 0.5; flagging
        # everything gives recall 1 and precision = prevalence.
        "baseline": {"pr_auc": prevalence, "roc_auc": 0.5, "precision": prevalence, "recall": 1.0,
                     "f1": 2 * prevalence / (1 + prevalence)},
        "rows": int(len(y_true)),
        "positives": int(y_true.sum()),
    }


def evaluate(model: dict, test_df) -> tuple[dict, object]:
    """Metrics of one model on a validated test frame; also returns its scores."""
    scores = score(model, test_df)
    return compute_metrics(test_df[label_name()].to_numpy(), scores, model["threshold"]), scores


def gate(metrics: dict, thresholds: GateThresholds, champion: Optional[dict] = None) -> dict:
    """Pass only if every metric meets its minimum and the champion is not clearly better."""
    reasons = []
    for name in GATED_METRICS:
        minimum = getattr(thresholds, f"min_{name}")
        if metrics[name] < minimum:
            reasons.append(f"{name} {metrics[name]:.4f} < minimum {minimum:.4f}")
    if champion is not None:
        for name in ("pr_auc", "f1"):
            margin = champion["metrics"][name] - metrics[name]
            if margin > thresholds.champion_tolerance:
                reasons.append(f"champion {name} {champion['metrics'][name]:.4f} beats challenger "
                               f"{metrics[name]:.4f} by {margin:.4f} > tolerance "
                               f"{thresholds.champion_tolerance:.4f}")
    passed = not reasons
    if passed:
        summary = "passed: " + ", ".join(f"{n}={metrics[n]:.4f}" for n in GATED_METRICS)
        summary += (f"; champion pr_auc={champion['metrics']['pr_auc']:.4f}" if champion
                    else "; no approved champion (first model)")
    else:
        summary = "rejected: " + "; ".join(reasons)
    return {"passed": passed, "reasons": reasons, "summary": summary,
            "thresholds": asdict(thresholds)}


def model_quality_json(metrics: dict, y_true, scores) -> dict:
    """SageMaker model-quality metrics shape (binary classification), as Model Monitor writes it."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    def stat(value):
        return {"value": value, "standard_deviation": "NaN"}

    cm = metrics["confusion_matrix"]
    precision, recall, _ = precision_recall_curve(y_true, scores)
    fpr, tpr, _ = roc_curve(y_true, scores)
    return {
        "version": 0.0,
        "dataset": {"item_count": metrics["rows"],
                    "evaluation_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "binary_classification_metrics": {
            "confusion_matrix": {"0": {"0": cm["tn"], "1": cm["fp"]},
                                 "1": {"0": cm["fn"], "1": cm["tp"]}},
            "recall": stat(metrics["recall"]),
            "precision": stat(metrics["precision"]),
            "f1": stat(metrics["f1"]),
            "auc": stat(metrics["roc_auc"]),
            "pr_auc": stat(metrics["pr_auc"]),
            "recall_best_constant_classifier": stat(metrics["baseline"]["recall"]),
            "precision_best_constant_classifier": stat(metrics["baseline"]["precision"]),
            "f1_best_constant_classifier": stat(metrics["baseline"]["f1"]),
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": _thin(fpr), "true_positive_rates": _thin(tpr)},
            "precision_recall_curve": {"precisions": _thin(precision), "recalls": _thin(recall)},
        },
    }


def _thin(values, keep: int = 200) -> list[float]:
    step = max(1, len(values) // keep)
    return [round(float(v), 6) for v in list(values)[::step]]


def report_text(metrics: dict, result: dict, champion: Optional[dict] = None,
                model_metadata: Optional[dict] = None) -> str:
    cm = metrics["confusion_matrix"]
    lines = [
        "# Model evaluation",
        "",
        f"Gate: **{'PASSED' if result['passed'] else 'REJECTED'}** ({result['summary']})",
        "",
        f"Held-out rows: {metrics['rows']}, fraud cases: {metrics['positives']}, "
        f"decision threshold: {metrics['threshold']:.4f}",
        "",
        "| metric | model | no-skill baseline | minimum |" + (" champion |" if champion else ""),
        "|---|---|---|---|" + ("---|" if champion else ""),
    ]
    for name in GATED_METRICS:
        row = (f"| {name} | {metrics[name]:.4f} | {metrics['baseline'][name]:.4f} | "
               f"{result['thresholds'][f'min_{name}']:.4f} |")
        if champion:
            row += f" {champion['metrics'][name]:.4f} |"
        lines.append(row)
    lines += ["", f"Confusion matrix: TP {cm['tp']}, FP {cm['fp']}, FN {cm['fn']}, TN {cm['tn']}"]
    if champion:
        lines.append(f"Champion: {champion.get('arn', 'n/a')}")
    model_metadata = model_metadata or {}
    selection = model_metadata.get("model_selection")
    if selection:
        lines += ["", "## Model family", "",
                  f"Chosen: **{selection['family']}** ({selection['rule']}; out-of-fold PR-AUC on "
                  f"{selection['rows']} train + validation rows, {selection['folds']} folds).", "",
                  "| family | out-of-fold PR-AUC | standard error of its difference to the best "
                  "| ties the best |", "|---|---|---|---|"]
        lines += [f"| {c['family']}" + (f" ({' + '.join(c['members'])})" if "members" in c
                                         else "") + " | " + (
            f"{c['pr_auc']:.4f} | {c['standard_error']:.4f} | {'yes' if c['ties_best'] else 'no'}"
            if "standard_error" in c else
            f"{c['pr_auc']:.4f} | | " if "pr_auc" in c else f"{c['skipped']} | | ") + " |"
            for c in selection["candidates"]]
    scorecard = model_metadata.get("scorecard")
    if scorecard:
        lines += ["", "## The model", "",
                  f"Log-odds of fraud = {scorecard['intercept']:.3f} + the weights of the cuts a "
                  "row is above:", "", "| feature | above | weight |", "|---|---|---|"]
        lines += [f"| {c['feature']} | {c['above']:.6g} | {c['weight']:+.3f} |"
                  for c in scorecard["cuts"]]
    return "\n".join(lines) + "\n"


def plot_pr_curve(y_true, scores, path, challenger_label="challenger", champion_scores=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import PrecisionRecallDisplay

    fig, ax = plt.subplots(figsize=(6, 4.5))
    PrecisionRecallDisplay.from_predictions(y_true, scores, name=challenger_label, ax=ax,
                                            plot_chance_level=True)
    if champion_scores is not None:
        PrecisionRecallDisplay.from_predictions(y_true, champion_scores, name="champion", ax=ax)
    ax.set_title("Precision-recall on held-out data")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_results(out_dir, metrics: dict, result: dict, y_true, scores,
                  champion: Optional[dict] = None, extra: Optional[dict] = None,
                  model_metadata: Optional[dict] = None) -> dict:
    """evaluation.json, model_quality.json, report.md and pr_curve.png in out_dir; the report
    shows the model's family choice and, for a scorecard, its cuts (from model_metadata)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = {
        **{k: metrics[k] for k in ("roc_auc", "pr_auc", "precision", "recall", "f1", "threshold",
                                   "confusion_matrix", "baseline", "rows", "positives")},
        "passed": result["passed"],
        "reasons": result["reasons"],
        "summary": result["summary"],
        "thresholds": result["thresholds"],
        "champion": ({"arn": champion.get("arn"), "metrics": {k: champion["metrics"][k]
                      for k in GATED_METRICS}} if champion else None),
        **(extra or {}),
    }
    paths = {
        "evaluation": out_dir / "evaluation.json",
        "model_quality": out_dir / "model_quality.json",
        "report": out_dir / "report.md",
        "pr_curve": out_dir / "pr_curve.png",
    }
    paths["evaluation"].write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
    paths["model_quality"].write_text(
        json.dumps(model_quality_json(metrics, y_true, scores), indent=2) + "\n")
    paths["report"].write_text(report_text(metrics, result, champion, model_metadata))
    plot_pr_curve(y_true, scores, paths["pr_curve"],
                  champion_scores=champion.get("scores") if champion else None)
    return paths
