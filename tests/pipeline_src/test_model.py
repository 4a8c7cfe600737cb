import pickle

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from pipeline_src.model import ScorecardClassifier, best_cut, f1_threshold, out_of_fold_scores


def step_data(n=20_000, seed=0):
    """Label rate 0.3 % below a cut on column 1 and 30 % above it; four noise columns."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = rng.exponential(10, n)
    y = (rng.uniform(size=n) < np.where(X[:, 1] > 30, 0.3, 0.003)).astype(int)
    return X, y


@pytest.mark.parametrize("min_samples_leaf", [1, 50, 400])
def test_best_cut_is_scikit_learns_stump_split(min_samples_leaf):
    X, y = step_data()
    order = np.argsort(X[:, 1], kind="stable")
    gain, cut = best_cut(X[order, 1], y[order], min_samples_leaf)
    stump = DecisionTreeClassifier(max_depth=1, min_samples_leaf=min_samples_leaf,
                                   random_state=0).fit(X[:, 1:2], y)
    # scikit-learn trees compare in float32; the cut is the same midpoint.
    assert cut == pytest.approx(stump.tree_.threshold[0], rel=1e-6)
    tree = stump.tree_
    expected = (tree.impurity[0] - (tree.weighted_n_node_samples[1] * tree.impurity[1]
                                    + tree.weighted_n_node_samples[2] * tree.impurity[2])
                / tree.weighted_n_node_samples[0])
    assert gain == pytest.approx(expected, rel=1e-9)


def test_no_split_when_leaves_cannot_hold_min_samples():
    gain, cut = best_cut(np.arange(10.0), np.array([0, 1] * 5), 6)
    assert gain == 0.0 and np.isnan(cut)


def test_selection_keeps_the_informative_column_and_drops_noise():
    X, y = step_data()
    model = ScorecardClassifier().fit(X, y)
    assert model.features_.tolist() == [1]
    assert model.cuts_[0] == pytest.approx(30, abs=1.0)
    # Noise columns' best cuts do no better than cuts on shuffled labels.
    assert all(model.feature_gains_[j] <= model.shadow_gain_ for j in (0, 2, 3, 4))


def test_ranks_above_the_cut_first_and_breaks_ties_within_a_cell():
    X, y = step_data()
    model = ScorecardClassifier().fit(X, y)
    X_new, y_new = step_data(seed=1)
    p = model.predict_proba(X_new)[:, 1]
    assert p[X_new[:, 1] > 31].min() > p[X_new[:, 1] < 29].max()
    assert len(np.unique(p)) > len(p) // 2  # continuous: AP is not at the mercy of tie handling
    np.testing.assert_allclose(model.predict_proba(X_new).sum(axis=1), 1.0)


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
    # Each row's score is what a model fitted on the other folds gives it.
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
