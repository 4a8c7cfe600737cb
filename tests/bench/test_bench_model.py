"""The model benchmark's own parts, and a small run of it, so `make bench` cannot rot."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from pipeline_src.contract import LABEL
from pipeline_src.sample_data import generate

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_model.py"


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH)


def test_bayes_probability_matches_the_generators_fraud_rate_per_value(bench):
    df = generate(300_000, seed=7)
    p = bench.bayes_probability(df)
    assert sorted(np.unique(p)) == pytest.approx([0, 1 / 3, 2 / 3, 1])
    for value in np.unique(p):
        rows = df[LABEL].to_numpy()[p == value]
        tolerance = 3 * np.sqrt(value * (1 - value) / len(rows)) + 1e-12
        assert abs(rows.mean() - value) <= tolerance, (value, rows.mean(), len(rows))


def test_random_tie_average_precision_is_scikit_learns_without_ties(bench):
    rng = np.random.RandomState(0)
    y = (rng.uniform(size=5000) < 0.05).astype(int)
    scores = rng.normal(size=5000) + y
    assert bench.average_precision_random_ties(y, scores) == pytest.approx(
        average_precision_score(y, scores), rel=1e-12)
    # With ties, scikit-learn counts a tied group at once: lower than the random-order expectation.
    tied = np.round(scores)
    assert bench.average_precision_random_ties(y, tied) > average_precision_score(y, tied)


def test_small_run_prints_every_row_and_target(bench, capsys):
    assert bench.main(["--quick", "--seeds", "1", "--train-rows", "20000",
                       "--holdout-rows", "20000", "--latency-rounds", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("this model", "RandomForest(100, d10) at 0.5", "F1 threshold on validation",
                "Bayes-optimal scorer", "Bayes scorer, threshold by the same rule",
                "training procedure", "single-row predict_fn",
                "PR-AUC >= 0.95 x Bayes", "predict_fn <= 1/10 forest"):
        assert row in out


THRESHOLD_FLOOR = BENCH.parent / "threshold_floor.py"


@pytest.fixture(scope="module")
def floor():
    return load_script(THRESHOLD_FLOOR)


def test_threshold_floor_f1_is_scikit_learns(floor):
    from sklearn.metrics import f1_score

    rng = np.random.RandomState(1)
    y = rng.uniform(size=4000) < 0.1
    p = np.round(rng.uniform(size=4000) * 0.5 + 0.5 * y, 1)
    for threshold in (0.2, 0.5, 0.7):
        assert floor.f1_at(y, p, threshold) == pytest.approx(f1_score(y, p >= threshold))


def test_threshold_floor_small_run_reports_each_evaluation_set(floor, capsys):
    assert floor.main(["--seeds", "10", "--population-rows", "20000"]) == 0
    out = capsys.readouterr().out
    for line in ("200,000 held-out rows", "500,000 held-out rows", "20,000 rows, seed 99",
                 "P(10-seed std <= 0.02)", "seeds whose rows pick another"):
        assert line in out
    assert floor.main(["--seeds", "5"]) == 2
