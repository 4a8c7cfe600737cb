"""The model benchmark's own parts, and a small run of it, so `make bench` cannot rot."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.parametrize("family", ["continuous", "categorical", "mixed", "merchant"])
def test_each_synthetic_familys_probability_is_its_fraud_rate(bench, family):
    """The Bayes ceiling is only a ceiling if the generator's P(fraud | x) is the truth: rows
    binned by it have that fraud rate (within 3 standard errors)."""
    X, y, p, mask = bench.FAMILIES[family][0](200_000, seed=3)
    assert len(mask) == X.shape[1] and X.shape == (200_000, len(mask))
    bins = np.quantile(p, [0, 0.5, 0.9, 0.99, 1.0])
    for low, high in zip(bins, bins[1:]):
        rows = (p >= low) & (p <= high)
        tolerance = 3 * np.sqrt(p[rows].mean() / rows.sum()) + 1e-12
        assert abs(y[rows].mean() - p[rows].mean()) <= tolerance, (low, high)


def test_small_run_prints_every_model_and_target(bench, capsys):
    assert bench.main(["--quick", "--family", "continuous"]) == 0
    out = capsys.readouterr().out
    for row in ("this pipeline (family chosen per seed)", "HistGradientBoosting()",
                "RandomForest()", "Imputer+Scaler+LogisticRegression()", "Bayes PR-AUC",
                "PR-AUC >= 0.98 x best baseline"):
        assert row in out


def test_the_readme_table_reports_development_and_held_out_seeds_apart(bench):
    def run(seed, ours, family="logistic"):
        return {"seed": seed, "held_out_seed": seed in bench.HELD_OUT_SEEDS, "ours": ours,
                "family": family, "fit_s": 1.0, "cpu_s": 10.0,
                **{m: 0.1 for m in bench.BASELINES}, **{f"fit_s_{m}": 1.0 for m in bench.BASELINES}}

    runs = [run(0, 0.12), run(1, 0.10, "blend"), run(200, 0.09)]
    results = {name: {"runs": runs, "summary": bench.summarize(name, runs, 0.5)}
               for name in ("mixed", "merchant")}
    rows = bench.markdown(results).splitlines()[2:]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| mixed", "dev 0,1", "2"], ["| mixed", "held-out 200", "1"], ["| mixed", "all 0,1,200", "3"],
        ["| merchant (held-out family)", "all (family held out) 0,1,200", "3"]]
    assert rows[0].split(" | ")[7] == "1.100 (hgb; 1.100 ± 0.141)"
    assert rows[0].split(" | ")[-2:] == ["blend x1, logistic x1", "20 |"]


def test_scale_run_measures_the_entry_point_in_its_own_process(capsys, tmp_path):
    scale = load_script(BENCH.parent / "bench_scale.py")
    scale.main(["--rows", "5000", "--rows", "6000", "--output", str(tmp_path / "scale.json")])
    out = capsys.readouterr().out
    assert "growth exponent of cpu_s: 5,000->6,000:" in out
    result = json.loads((tmp_path / "scale.json").read_text())
    first = result["runs"][0]
    assert first["rows"] == 5000 and first["cpu_s"] > 0 and 0.05 < first["peak_gb"] < 6
    assert set(first["candidates"]) == {"scorecard", "logistic", "hist_gradient_boosting_ordinal",
                                        "hist_gradient_boosting", "random_forest", "blend"}


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
