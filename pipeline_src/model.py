"""The fraud model: a scorecard learned from the data, and how its decision threshold is chosen.

Why a scorecard and not a tree ensemble: with ~100 frauds in 30-40k rows, the few feature
combinations that carry most of the fraud are too rare for trees to learn one by one, and
histogram trees can only cut between quantile bin edges, far from where the label changes on
skewed features. A scorecard cuts each useful feature at its exact best point (between two
observed values), drops features whose best cut is no better than a cut on shuffled labels,
and adds the cuts' effects in a logistic regression, so a rare combination inherits what its
parts taught. Each selected feature also enters through its empirical CDF, a bounded
continuous term that orders rows within a cell instead of leaving them tied.

Nothing here knows the data set: the cut points, the features kept and the weights are all
learned from the training rows.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

# Points of each selected feature's empirical CDF kept in the model (interpolated between).
CDF_POINTS = 257


def best_cut(x_sorted: np.ndarray, y_sorted: np.ndarray, min_samples_leaf: int):
    """(gain, threshold) of the single split of a sorted feature that most reduces Gini impurity.

    The threshold sits midway between two distinct observed values, with at least
    min_samples_leaf rows each side; (0.0, nan) when no such split exists.
    """
    n = len(y_sorted)
    positives = np.cumsum(y_sorted, dtype=float)
    total = positives[-1]
    left_n = np.arange(1, n + 1, dtype=float)[:-1]
    left_pos = positives[:-1]
    right_n = n - left_n
    right_pos = total - left_pos
    valid = ((x_sorted[1:] > x_sorted[:-1]) & (left_n >= min_samples_leaf)
             & (right_n >= min_samples_leaf))
    if not valid.any():
        return 0.0, float("nan")
    # n * Gini = 2 * pos * (n - pos) / n, summed over both sides.
    children = (2 * left_pos * (left_n - left_pos) / left_n
                + 2 * right_pos * (right_n - right_pos) / right_n)
    gain = np.where(valid, 2 * total * (n - total) / n - children, -np.inf)
    i = int(np.argmax(gain))
    return float(gain[i]) / n, float((x_sorted[i] + x_sorted[i + 1]) / 2)


class ScorecardClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier: one learned cut per useful feature + its CDF, in a logistic regression.

    n_shadows: label permutations a feature's best cut must beat (Boruta-style selection).
    C: inverse L2 strength of the logistic regression.
    """

    def __init__(self, min_samples_leaf: int = 50, n_shadows: int = 3, C: float = 10.0,
                 random_state: int = 42):
        self.min_samples_leaf = min_samples_leaf
        self.n_shadows = n_shadows
        self.C = C
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.utils.validation import check_X_y

        X, y = check_X_y(X, y, dtype=float)
        self.classes_, y = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"ScorecardClassifier needs two classes, got {len(self.classes_)}")
        self.n_features_in_ = X.shape[1]
        rng = np.random.RandomState(self.random_state)
        shadows = [rng.permutation(y) for _ in range(self.n_shadows)]
        gains, cuts, shadow_best = [], [], 0.0
        orders = np.argsort(X, axis=0, kind="stable")
        for j in range(X.shape[1]):
            xs = X[orders[:, j], j]
            gain, cut = best_cut(xs, y[orders[:, j]], self.min_samples_leaf)
            gains.append(gain)
            cuts.append(cut)
            for ys in shadows:
                shadow_best = max(shadow_best, best_cut(xs, ys[orders[:, j]],
                                                        self.min_samples_leaf)[0])
        keep = [j for j in range(X.shape[1]) if gains[j] > shadow_best and np.isfinite(cuts[j])]
        self.features_ = np.array(keep, dtype=np.intp)
        self.cuts_ = np.array([cuts[j] for j in keep], dtype=float)
        grid = np.linspace(0.0, 1.0, CDF_POINTS)
        self.cdf_knots_ = (np.quantile(X[:, keep], grid, axis=0).T if keep
                           else np.empty((0, CDF_POINTS)))
        self.feature_gains_ = np.array(gains)
        self.shadow_gain_ = shadow_best
        if not keep:  # nothing beats shuffled labels: the honest model is the base rate
            self.coef_ = np.zeros(0)
            self.intercept_ = float(np.log(y.mean() / (1 - y.mean())))
            return self
        regression = LogisticRegression(C=self.C, max_iter=1000)
        regression.fit(self._design(X), y)
        self.coef_ = regression.coef_.ravel().copy()
        self.intercept_ = float(regression.intercept_[0])
        return self

    def _design(self, X):
        grid = np.linspace(0.0, 1.0, CDF_POINTS)
        steps = X[:, self.features_] > self.cuts_
        cdfs = [np.interp(X[:, j], knots, grid)
                for j, knots in zip(self.features_, self.cdf_knots_)]
        return np.column_stack([steps.astype(float), *cdfs]) if len(self.features_) else \
            np.zeros((len(X), 0))

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D array with {self.n_features_in_} columns, "
                             f"got shape {X.shape}")
        return self._design(X) @ self.coef_ + self.intercept_

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def f1_threshold(y_true, scores) -> float:
    """The score cut-off that maximises F1 (flag rows scoring at or above it)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def out_of_fold_scores(estimator, X, y, folds: int = 5, random_state: int = 42):
    """Scores of each row from a clone of estimator fitted without it (stratified K-fold)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(y))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    for fit_rows, score_rows in splitter.split(X, y):
        model = clone(estimator).fit(X[fit_rows], y[fit_rows])
        scores[score_rows] = model.predict_proba(X[score_rows])[:, 1]
    return scores
