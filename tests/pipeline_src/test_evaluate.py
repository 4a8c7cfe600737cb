import json

import numpy as np
import pytest

from pipeline_src import evaluate as ev
from pipeline_src.model_io import load_model
from tests.pipeline_src.conftest import NAN_ABOVE_AMOUNT, nan_scoring_copy


def test_metrics_at_threshold_and_no_skill_baseline():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.7, 0.6, 0.9])
    m = ev.compute_metrics(y, scores, threshold=0.5)
    assert m["confusion_matrix"] == {"tn": 7, "fp": 1, "fn": 0, "tp": 2}
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.8)
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["baseline"]["pr_auc"] == pytest.approx(0.2)
    assert m["baseline"]["roc_auc"] == 0.5


def metrics(**values):
    base = {"pr_auc": 0.8, "roc_auc": 0.99, "recall": 0.8, "precision": 0.6, "f1": 0.69}
    return {**base, **values}


def test_gate_passes_first_model_on_thresholds_only():
    result = ev.gate(metrics(), ev.GateThresholds())
    assert result["passed"] and result["reasons"] == []
    assert result["summary"].endswith("no approved champion (first model)")


def test_gate_names_every_metric_below_its_minimum():
    result = ev.gate(metrics(recall=0.4, precision=0.1), ev.GateThresholds())
    assert not result["passed"]
    assert result["reasons"] == ["recall 0.4000 < minimum 0.5000",
                                 "precision 0.1000 < minimum 0.3000"]
    assert result["summary"] == ("rejected: recall 0.4000 < minimum 0.5000; "
                                 "precision 0.1000 < minimum 0.3000")


def test_champion_better_than_tolerance_rejects_challenger():
    champion = {"arn": "arn:champion", "metrics": metrics(pr_auc=0.85)}
    result = ev.gate(metrics(pr_auc=0.80), ev.GateThresholds(champion_tolerance=0.02), champion)
    assert not result["passed"]
    assert result["reasons"] == ["champion pr_auc 0.8500 beats challenger 0.8000 by 0.0500 > "
                                 "tolerance 0.0200"]


def test_champion_within_tolerance_passes():
    champion = {"arn": "arn:champion", "metrics": metrics(pr_auc=0.81)}
    assert ev.gate(metrics(pr_auc=0.80), ev.GateThresholds(champion_tolerance=0.02), champion)["passed"]


def test_write_results_in_sagemaker_model_quality_shape(model_dir, splits, tmp_path):
    model = load_model(model_dir)
    m, scores = ev.evaluate(model, splits["test"])
    assert m["pr_auc"] > m["baseline"]["pr_auc"] * 10
    result = ev.gate(m, ev.GateThresholds())
    paths = ev.write_results(tmp_path, m, result, splits["test"]["is_fraud"].to_numpy(), scores)
    evaluation = json.loads(paths["evaluation"].read_text())
    for key in ("roc_auc", "pr_auc", "precision", "recall", "f1", "passed"):
        assert key in evaluation
    assert evaluation["passed"] is result["passed"]
    quality = json.loads(paths["model_quality"].read_text())["binary_classification_metrics"]
    assert quality["auc"]["value"] == pytest.approx(m["roc_auc"])
    assert quality["confusion_matrix"]["1"]["1"] == m["confusion_matrix"]["tp"]
    assert paths["pr_curve"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| pr_auc |" in paths["report"].read_text()


def test_report_shows_the_scorecard_the_model_computes(scorecard_model_dir, splits, tmp_path):
    model = load_model(scorecard_model_dir)
    scorecard = model["metadata"]["scorecard"]
    estimator = model["estimator"]
    # The metadata says what the estimator computes: its logit from the listed cuts and weights.
    rows = splits["test"][model["features"]]
    logit = scorecard["intercept"] + sum(
        cut["weight"] * (rows[cut["feature"]] > cut["above"]) for cut in scorecard["cuts"])
    np.testing.assert_allclose(logit, estimator.decision_function(rows.to_numpy(float)))
    m, scores = ev.evaluate(model, splits["test"])
    paths = ev.write_results(tmp_path, m, ev.gate(m, ev.GateThresholds()),
                             splits["test"]["is_fraud"].to_numpy(), scores,
                             model_metadata=model["metadata"])
    report = paths["report"].read_text()
    assert "Chosen: **scorecard** (pinned by --model-family scorecard;" in report
    assert f"| scorecard | {model['metadata']['training_metrics']['validation_pr_auc']:.4f} |" \
        in report
    assert "## The model" in report
    for cut in scorecard["cuts"]:
        assert f"| {cut['feature']} | {cut['above']:.6g} | {cut['weight']:+.3f} |" in report



def test_scores_outside_0_1_on_any_row_are_refused_naming_the_first(model_dir, splits, tmp_path):
    from pipeline_src.model_io import ModelLoadError

    model = load_model(nan_scoring_copy(model_dir, tmp_path / "broken"))
    test = splits["test"]
    over = np.flatnonzero(test["amount"].to_numpy() > NAN_ABOVE_AMOUNT)
    assert 0 < len(over) < len(test)
    with pytest.raises(ModelLoadError) as exc:
        ev.score(model, test)
    assert str(exc.value) == (f"scores {len(over)} of {len(test)} rows outside [0, 1] "
                              f"(row {over[0]}: nan)")


def test_pr_auc_without_ties_is_scikit_learns_average_precision():
    from sklearn.metrics import average_precision_score

    rng = np.random.RandomState(0)
    y, scores = rng.uniform(size=5_000) < 0.05, rng.uniform(size=5_000)
    assert ev.pr_auc(y, scores) == pytest.approx(average_precision_score(y, scores), rel=1e-12)


def test_pr_auc_with_ties_is_the_mean_over_every_order_of_the_tied_rows():
    import itertools

    y = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0])
    scores = np.array([3, 3, 3, 2, 2, 2, 2, 1, 1.0])
    groups = [np.flatnonzero(scores == s) for s in (3, 2, 1)]

    def average_precision(order):
        hits = y[order]
        return (np.cumsum(hits) / np.arange(1, len(hits) + 1) * hits).sum() / hits.sum()

    figures = [average_precision(np.concatenate(orders))
               for orders in itertools.product(*(itertools.permutations(g) for g in groups))]
    assert ev.pr_auc(y, scores) == pytest.approx(np.mean(figures), rel=1e-12)
