import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.linear_model import LogisticRegression

from pipeline_src.model import (ScorecardClassifier, _CutSearch, f1_threshold, g_statistic,
                                out_of_fold_scores, shift_deviance)


def step_data(n=20_000, seed=0):
    """Label rate 0.3 % below a cut on column 1 and 30 % above it; four noise columns."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = rng.exponential(10, n)
    y = (rng.uniform(size=n) < np.where(X[:, 1] > 30, 0.3, 0.003)).astype(int)
    return X, y


def joint_data(n=40_000, seed=0):
    """Fraud needs column 0 above 3 AND column 2 equal to 1 (an integer column), or column 3
    above 2.5 alone; column 1 and 4 are noise."""
    rng = np.random.RandomState(seed)
    X = np.column_stack([rng.exponential(1, n), rng.normal(size=n), rng.randint(0, 3, n),
                         rng.normal(size=n), rng.uniform(size=n)])
    p = np.where((X[:, 0] > 3) & (X[:, 2] == 1), 0.6, np.where(X[:, 3] > 2.5, 0.3, 0.001))
    return X, (rng.uniform(size=n) < p).astype(int)


def test_g_statistic_is_scipys_log_likelihood_ratio():
    observed = np.array([7.0, 53.0])
    expected = np.array([1.5, 58.5])
    ours = g_statistic(observed[0], expected[0], observed.sum(), expected.sum())
    scipy_g = stats.power_divergence(observed, expected, lambda_="log-likelihood").statistic
    assert ours == pytest.approx(scipy_g, rel=1e-12)


def test_shift_deviance_is_the_likelihood_gain_of_the_best_shift():
    rows = np.array([400.0, 30.0, 12.0])
    frauds = np.array([2.0, 9.0, 11.0])
    logit = np.array([-5.0, -1.0, 1.5])

    def loglik(shift):
        p = 1 / (1 + np.exp(-(logit + shift)))
        return float((frauds * np.log(p) + (rows - frauds) * np.log(1 - p)).sum())

    best = optimize.minimize_scalar(lambda s: -loglik(s), bounds=(-20, 20), method="bounded",
                                    options={"xatol": 1e-10})
    expected = 2 * (loglik(best.x) - loglik(0.0))
    assert shift_deviance(rows, frauds, logit) == pytest.approx(expected, rel=1e-6)
    # No frauds: the shift runs to -inf and the gain is what the frauds-free rows were charged.
    empty = shift_deviance(rows, np.zeros(3), logit)
    assert empty == pytest.approx(-2 * (rows * np.log(1 - 1 / (1 + np.exp(-logit)))).sum(),
                                  rel=1e-9)


@pytest.mark.parametrize("min_samples_leaf", [1, 50, 3000])
def test_cut_search_finds_the_best_valid_cut_of_every_column(min_samples_leaf):
    """Evaluating only the ends of each stretch between frauds finds the same maximum as
    evaluating every valid cut (ties in integer columns, min_samples_leaf respected)."""
    X, y = joint_data(n=8_000)
    p = np.random.RandomState(1).uniform(0.0005, 0.05, len(y))
    p *= y.sum() / p.sum()
    search = _CutSearch(X, y, min_samples_leaf, n_shadows=1, rng=np.random.RandomState(0))
    for shadow in (0, 1):
        gains, positions = search.best(p, shadow)
        rows = search.rows[shadow]
        for j in range(X.shape[1]):
            xs = X[search.rows[0][:, j], j]  # the column sorted; shadows pair it with shuffled rows
            ys, ps = y[rows[:, j]], p[rows[:, j]]
            # Every valid cut, evaluated directly.
            k = np.arange(len(xs) - 1)
            valid = ((xs[1:] > xs[:-1]) & (k + 1 >= min_samples_leaf)
                     & (len(xs) - 1 - k >= min_samples_leaf))
            above_y, above_p = ys[::-1].cumsum()[::-1][1:], ps[::-1].cumsum()[::-1][1:]
            brute = g_statistic(above_y[valid], above_p[valid], ys.sum(), ps.sum())
            if not valid.any():
                assert gains[j] == -np.inf
                continue
            assert gains[j] == pytest.approx(brute.max(), rel=1e-9)
            k = positions[j]
            assert g_statistic(ys[k + 1:].sum(), ps[k + 1:].sum(), ys.sum(), ps.sum()) == \
                pytest.approx(gains[j], rel=1e-9)


def test_weights_fitted_on_cells_equal_scikit_learns_fit_on_the_rows():
    X, y = joint_data()
    model = ScorecardClassifier().fit(X, y)
    rows = LogisticRegression(C=model.C, max_iter=1000).fit(model._design(X), y)
    np.testing.assert_allclose(model.coef_, rows.coef_.ravel(), rtol=1e-3, atol=1e-3)
    assert model.intercept_ == pytest.approx(rows.intercept_[0], abs=1e-3)


def test_finds_each_informative_cut_and_no_noise_column():
    X, y = step_data()
    model = ScorecardClassifier().fit(X, y)
    assert model.features_.tolist() == [1]
    assert model.cuts_[0] == pytest.approx(30, abs=1.0)
    # The search stopped because its best cut did no better than the shadows allow.
    assert model.steps_[-1]["g"] <= model.margin * model.steps_[-1]["shadow_g"]


def test_finds_a_column_that_only_matters_together_with_another():
    X, y = joint_data()
    model = ScorecardClassifier().fit(X, y)
    # Five columns: shuffled 12 times each, for the 60 shadows 3 copies of 20 features give.
    assert model.n_shadows_ == 12
    found = dict(zip(model.features_.tolist(), model.cuts_.tolist()))
    assert set(found) <= {0, 2, 3}
    assert found[0] == pytest.approx(3, abs=0.15) and found[3] == pytest.approx(2.5, abs=0.1)
    assert 2 in found  # column 2 == 1 is cut as > 0.5 or > 1.5, with its other side learned too
    X_new, y_new = joint_data(seed=1)
    p = model.predict_proba(X_new)[:, 1]
    both = (X_new[:, 0] > 3.2) & (X_new[:, 2] == 1) & (X_new[:, 3] < 2.4)
    alone = (X_new[:, 0] > 3.2) & (X_new[:, 2] != 1) & (X_new[:, 3] < 2.4)
    assert p[both].min() > p[alone].max()


def test_scores_are_one_value_per_cell_of_the_cuts():
    X, y = step_data()
    model = ScorecardClassifier().fit(X, y)
    X_new, _ = step_data(seed=1)
    p = model.predict_proba(X_new)[:, 1]
    assert len(np.unique(p)) == len(np.unique(model._design(X_new), axis=0)) == 2
    assert p[X_new[:, 1] > 31].min() > p[X_new[:, 1] < 29].max()
    np.testing.assert_allclose(model.predict_proba(X_new).sum(axis=1), 1.0)


def test_max_cuts_bounds_the_model():
    X, y = joint_data()
    assert len(ScorecardClassifier(max_cuts=1).fit(X, y).cuts_) == 1


def test_fit_is_deterministic_for_a_random_state():
    X, y = joint_data(n=10_000)
    a, b = (ScorecardClassifier(random_state=3).fit(X, y) for _ in range(2))
    np.testing.assert_array_equal(a.cuts_, b.cuts_)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_single_rows_score_like_the_batch_and_survive_pickling():
    X, y = step_data()
    model = pickle.loads(pickle.dumps(ScorecardClassifier().fit(X, y)))
    batch = model.predict_proba(X[:20])[:, 1]
    one_by_one = [model.predict_proba(X[i:i + 1])[0, 1] for i in range(20)]
    np.testing.assert_allclose(one_by_one, batch, rtol=1e-12)
    with pytest.raises(ValueError, match="5 columns"):
        model.predict_proba(X[:2, :4])


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_row():
    X, y = step_data()
    in_sample = ScorecardClassifier().fit(X, y).predict_proba(X)[:, 1]
    oof = out_of_fold_scores(ScorecardClassifier(), X, y, folds=4)
    assert oof.shape == y.shape and not np.allclose(oof, in_sample)
    assert 0 < f1_threshold(y, oof) < 1


def test_f1_threshold_maximises_f1():
    y = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.9])
    assert f1_threshold(y, scores) == 0.5


def test_labels_without_signal_give_the_base_rate():
    X, y = step_data()
    y = np.random.RandomState(3).permutation(y)
    model = ScorecardClassifier().fit(X, y)
    assert model.features_.tolist() == []
    np.testing.assert_allclose(model.predict_proba(X[:5])[:, 1], y.mean())


def test_one_class_is_refused():
    X, _ = step_data(n=200)
    with pytest.raises(ValueError, match="two classes, got 1"):
        ScorecardClassifier().fit(X, np.zeros(200))


def test_a_model_saved_by_the_previous_version_scores_as_it_did():
    """data/scorecard_v1.joblib: the previous ScorecardClassifier (cuts + empirical CDFs, git
    74acd35) fitted on generate(30_000, seed=5) and saved with joblib as model_io does; the
    expected probabilities are what that code gave. The test stage scores the registry's
    champion with this code, and the champion may be such a model."""
    from pipeline_src.contract import feature_names
    from pipeline_src.sample_data import generate

    data = Path(__file__).parent / "data"
    model = joblib.load(data / "scorecard_v1.joblib")
    expected = json.loads((data / "scorecard_v1_expected.json").read_text())
    rows = generate(2_000, seed=expected["seed"])[feature_names()].to_numpy(float)
    p = model.predict_proba(rows[:expected["rows"]])[:, 1]
    np.testing.assert_allclose(p, expected["probabilities"], rtol=1e-12)


# --- the family choice --------------------------------------------------------------------------

PARAMS = {"scorecard": {}, "logistic": {}, "hist_gradient_boosting": {},
          "random_forest": {"n_estimators": 50}}


def smooth_data(n=8_000, seed=0):
    """Fraud log-odds a smooth function of interacting continuous columns (no step to find)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 6))
    logit = -4 + 2.5 * np.sin(2 * X[:, 0]) * X[:, 1] + 1.5 * X[:, 2] ** 2 - 1.5
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)


def linear_data(n=8_000, seed=0):
    """Fraud log-odds linear in every column: a logistic regression is the true model."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 6))
    logit = -3.5 + X @ np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3])
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.mark.parametrize("data, expected", [(smooth_data, "hist_gradient_boosting"),
                                            (linear_data, "logistic")])
def test_the_family_chosen_follows_the_data(data, expected):
    from pipeline_src.model import choose_family

    X, y = data()
    family, candidates, scores = choose_family(X, y, [False] * X.shape[1], PARAMS, folds=3)
    assert family == expected, candidates
    assert [c["family"] for c in candidates] == ["scorecard", "logistic",
                                                 "hist_gradient_boosting_ordinal",
                                                 "hist_gradient_boosting", "random_forest",
                                                 "blend"]
    assert scores.shape == y.shape


def test_boosting_on_ordered_codes_is_a_candidate_only_beside_categorical_columns():
    """Without a categorical column the two boosting forms are one model: fitted once (unless
    pinned). With one, both are scored, and each estimator says which form it is."""
    from pipeline_src.model import choose_family, family_of, make_estimator

    X, y = linear_data(3_000)
    X[:, 5] = np.random.RandomState(1).randint(0, 9, len(X))
    _, candidates, _ = choose_family(X, y, [False] * 6, PARAMS, folds=3)
    assert candidates[2] == {"family": "hist_gradient_boosting_ordinal",
                             "skipped": "not a candidate: no categorical column (the same model "
                                        "as hist_gradient_boosting)"}
    pinned, candidates, _ = choose_family(X, y, [False] * 6, PARAMS, folds=3,
                                          families=("hist_gradient_boosting_ordinal",))
    assert pinned == "hist_gradient_boosting_ordinal" and "pr_auc" in candidates[0]
    mask = [False] * 5 + [True]
    _, candidates, _ = choose_family(X, y, mask, PARAMS, folds=3)
    assert all("pr_auc" in c for c in candidates), candidates
    for family in ("hist_gradient_boosting_ordinal", "hist_gradient_boosting"):
        fitted = make_estimator(family, mask, PARAMS, y).fit(X, y)
        assert family_of(fitted) == family
        native = family == "hist_gradient_boosting"
        assert (fitted.is_categorical_ is not None) == native


def fold_rankings(y, splits, late):
    """Out-of-fold scores ranking every fraud of fold f above all legitimate rows except late[f]
    of them, which rank below every legitimate row of any fold."""
    scores = np.where(y == 1, 2.0, np.linspace(1.0, 0.0, len(y)))
    for f, (_, rows) in enumerate(splits):
        scores[rows[y[rows] == 1][:late[f]]] = -1.0
    return scores


@pytest.mark.parametrize("late, expected", [
    # logistic misses one fraud in every fold: the same loss in each fold (standard error 0)
    # and 0.91 x the best pooled: boosting is better.
    ({"hist_gradient_boosting": [0] * 5, "logistic": [1] * 5}, "hist_gradient_boosting"),
    # boosting misses 2 frauds in fold 0, logistic one in three other folds: boosting's pooled
    # lead (0.96 vs 0.95, more than 1 %) is smaller than the spread of the per-fold differences.
    ({"hist_gradient_boosting": [2, 0, 0, 0, 0], "logistic": [0, 1, 1, 0, 1]}, "logistic"),
])
def test_ties_within_one_standard_error_go_to_the_simpler_family(monkeypatch, late, expected):
    from pipeline_src import model
    from pipeline_src.evaluate import pr_auc

    y = np.array(([1] * 10 + [0] * 90) * 5)
    splits = model.fold_splits(y, 5, 42)
    assert all(y[rows].sum() == 10 for _, rows in splits)
    oof = {f: fold_rankings(y, splits, k) for f, k in late.items()}
    oof["scorecard"] = fold_rankings(y, splits, [6] * 5)
    oof["random_forest"] = fold_rankings(y, splits, [4] * 5)
    monkeypatch.setattr(model, "out_of_fold_scores",
                        lambda estimator, *_, **__: oof[model.family_of(estimator)])
    family, candidates, scores = model.choose_family(np.zeros((500, 2)), y, [False, False],
                                                     PARAMS, families=model.FAMILIES[:-1])
    figures = {c["family"]: c for c in candidates if "pr_auc" in c}
    best = figures["hist_gradient_boosting"]
    assert best["pr_auc"] == max(c["pr_auc"] for c in figures.values())
    for name, c in figures.items():
        folds = [pr_auc(y[rows], oof[name][rows]) for _, rows in splits]
        assert c["fold_pr_auc"] == folds
        differences = np.subtract(best["fold_pr_auc"], folds)
        assert c["standard_error"] == pytest.approx(np.std(differences, ddof=1) / np.sqrt(5))
    logistic = figures["logistic"]
    assert logistic["pr_auc"] < model.TIE_RATIO * best["pr_auc"]
    assert logistic["ties_best"] == (expected == "logistic")
    assert not figures["scorecard"]["ties_best"]
    assert family == expected and scores is oof[expected]


def missing_frauds(y, splits, which):
    """Out-of-fold scores ranking every fraud above all legitimate rows except, in each fold, the
    frauds at positions which[0]:which[1] among that fold's frauds, which rank among them."""
    scores = np.where(y == 1, 2.0, np.linspace(1.0, 0.0, len(y)))
    for _, rows in splits:
        scores[rows[y[rows] == 1][which[0]:which[1]]] = 0.5
    return scores


@pytest.mark.parametrize("hgb_misses, expected", [
    # boosting and the forest each rank two frauds per fold among the legitimate rows, not the
    # same two: their mean ranks every fraud first, better than either in every fold.
    ((0, 2), "blend"),
    # both miss the same two: the mean is the same ranking, and the simpler family is chosen.
    ((2, 4), "hist_gradient_boosting"),
])
def test_the_blend_is_the_mean_of_the_two_best_and_chosen_only_when_it_wins(
        monkeypatch, hgb_misses, expected):
    from pipeline_src import model

    y = np.array(([1] * 10 + [0] * 90) * 5)
    splits = model.fold_splits(y, 5, 42)
    oof = {"hist_gradient_boosting": missing_frauds(y, splits, hgb_misses),
           "random_forest": missing_frauds(y, splits, (2, 4)),
           "logistic": missing_frauds(y, splits, (0, 5)),
           "scorecard": missing_frauds(y, splits, (0, 6))}
    monkeypatch.setattr(model, "out_of_fold_scores",
                        lambda estimator, *_, **__: oof[model.family_of(estimator)])
    family, candidates, scores = model.choose_family(np.zeros((500, 2)), y, [False, False],
                                                     PARAMS)
    blend = candidates[-1]
    assert blend["family"] == "blend"
    assert blend["members"] == ["hist_gradient_boosting", "random_forest"]
    np.testing.assert_array_equal(
        scores if family == "blend" else np.mean([oof[m] for m in blend["members"]], axis=0),
        np.mean([oof["hist_gradient_boosting"], oof["random_forest"]], axis=0))
    assert family == expected, candidates
    assert blend["ties_best"]  # in the second case it ties, and the simpler family goes first


def test_a_pinned_blend_chooses_its_members_and_scores_as_their_mean():
    from pipeline_src.model import choose_family, family_of, make_estimator

    X, y = smooth_data(4_000)
    family, candidates, scores = choose_family(X, y, [False] * 6, PARAMS, folds=3,
                                               families=("blend",))
    figures = {c["family"]: c["pr_auc"] for c in candidates if "pr_auc" in c and
               c["family"] != "blend"}
    members = candidates[-1]["members"]
    assert family == "blend" and members == sorted(figures, key=lambda f: -figures[f])[:2]
    fitted = make_estimator("blend", [False] * 6, PARAMS, y, members).fit(X, y)
    assert family_of(fitted) == "blend"
    assert [family_of(m) for m in fitted.estimators_] == members
    np.testing.assert_array_equal(
        fitted.predict_proba(X[:100]),
        np.mean([m.predict_proba(X[:100]) for m in fitted.estimators_], axis=0))
    # With one other family there is nothing to blend.
    family, candidates, _ = choose_family(X, y, [False] * 6, PARAMS, folds=3,
                                          families=("logistic", "blend"))
    assert family == "logistic"
    assert candidates[-1] == {"family": "blend", "skipped": "not a candidate: fewer than two "
                                                            "families could be fitted"}


def test_a_family_within_tie_ratio_of_the_best_ties_with_it():
    from pipeline_src.model import TIE_RATIO, ties

    assert ties(TIE_RATIO * 0.5, 0.5, 0.0) and not ties(TIE_RATIO * 0.5 - 1e-9, 0.5, 0.0)
    assert ties(0.4, 0.5, 0.1) and not ties(0.4, 0.5, 0.0999)


def test_the_scorecard_is_no_candidate_when_values_are_missing():
    from pipeline_src.model import choose_family

    X, y = linear_data(3_000)
    X[::50, 2] = np.nan
    family, candidates, _ = choose_family(X, y, [False] * X.shape[1], PARAMS, folds=3)
    assert candidates[0] == {"family": "scorecard",
                             "skipped": "not a candidate: the training rows have missing values"}
    assert family in ("logistic", "hist_gradient_boosting")
    with pytest.raises(ValueError, match="scorecard: not a candidate: the training rows have "
                                         "missing values"):
        choose_family(X, y, [False] * X.shape[1], PARAMS, families=("scorecard",))


def test_the_family_chosen_on_a_stratified_subsample_is_the_one_chosen_on_every_row():
    """What --selection-rows relies on: a bounded subsample keeps the fraud rate and ranks the
    families as all the rows do."""
    from pipeline_src.model import choose_family, stratified_subsample

    from pipeline_src.model import FAMILIES

    X, y = smooth_data(16_000, seed=1)
    keep = stratified_subsample(y, 6_000, random_state=0)
    assert len(keep) == 6_000 and abs(y[keep].mean() - y.mean()) < 1e-3
    # Without the blend: on these rows it and boosting are within noise of each other, and this
    # asks whether the subsample ranks distinct families as all the rows do.
    single = FAMILIES[:-1]
    assert (choose_family(X[keep], y[keep], [False] * 6, PARAMS, folds=3, families=single)[0]
            == choose_family(X, y, [False] * 6, PARAMS, folds=3, families=single)[0])
    assert len(stratified_subsample(y, 20_000)) == len(y)


def test_size_dependent_settings_follow_the_rows_they_will_be_fitted_on():
    """Early stopping only with EARLY_STOPPING_MIN_FRAUDS frauds in its held-out tenth; forest
    bootstraps bounded at FOREST_MAX_SAMPLES rows."""
    from pipeline_src.model import (EARLY_STOPPING_MIN_FRAUDS, FOREST_MAX_SAMPLES,
                                    make_estimator)

    def labels(rows, frauds):
        return np.r_[np.ones(frauds), np.zeros(rows - frauds)]

    enough = labels(10 ** 6, 10 * EARLY_STOPPING_MIN_FRAUDS)
    few = labels(10 ** 6, 10 * EARLY_STOPPING_MIN_FRAUDS - 10)
    assert make_estimator("hist_gradient_boosting", [False], PARAMS, enough).early_stopping
    assert not make_estimator("hist_gradient_boosting", [False], PARAMS, few).early_stopping
    assert make_estimator("random_forest", [False], PARAMS,
                          labels(FOREST_MAX_SAMPLES, 10)).max_samples is None
    forest = make_estimator("random_forest", [False], PARAMS, labels(4 * FOREST_MAX_SAMPLES, 10))
    assert forest.max_samples == 0.25
