"""The fraud model: a stepwise scorecard of learned cuts, and how its decision threshold is chosen.

Why a scorecard and not a tree ensemble: with ~100 frauds in 30-40k rows, the few feature
combinations that carry most of the fraud are too rare for trees to learn one by one, and
histogram trees can only cut between quantile bin edges, far from where the label changes on
skewed features. This model adds one cut ("feature > value", at an exact midpoint between two
observed values) at a time to a logistic regression, each chosen given the cuts already in it:

- the next cut is on the feature whose best cut's two sides the current model mispredicts most:
  the likelihood-ratio statistic G = 2 Σ O·log(O/E) over the two sides, O the frauds observed, E
  the frauds the current model expects. A feature that only matters together with another (fraud
  needs both) shows its effect once the other is in the model, which a one-feature-at-a-time
  screen misses. Within that feature the cut goes where giving each side its own logit shift
  gains most binomial deviance (G alone favours tiny sides the model already puts near 1);
- a cut joins only if its G is more than `margin` times the best G of the same search on shadow
  columns (each feature's values paired with the rows' labels and predictions shuffled), so noise
  features, however many cut points they offer, stay out. The same feature may be cut again
  where the data supports a second step.

The scores are piecewise constant (one value per cell of the cuts): rows the cuts cannot tell
apart tie, rather than being ordered by noise.

Nothing here knows the data set: the features, the cut points and the weights are all learned
from the training rows.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


def g_statistic(observed, expected, total_observed, total_expected):
    """G = 2 Σ [O log(O/E) - (O - E)] over a cut's upper side (observed, expected) and lower side
    (the totals' remainders): the likelihood ratio of letting each side its own rate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lower_o, lower_e = total_observed - observed, total_expected - expected
        upper = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
        lower = np.where(lower_o > 0, lower_o * np.log(lower_o / lower_e), 0.0)
        return 2 * (upper + lower - (total_observed - total_expected))


def shift_deviance(rows, frauds, logit, iterations: int = 30):
    """Deviance gain of giving a group of rows its own logit shift, the rows summarised per cell:
    rows[..., c] and frauds[..., c] of cell c, whose current logit is logit[c]. Solved by
    safeguarded Newton steps on sum_c rows_c * sigmoid(logit_c + shift) = sum_c frauds_c."""
    observed = frauds.sum(axis=-1)
    total = rows.sum(axis=-1)
    shift = np.zeros(observed.shape)
    low, high = np.full(observed.shape, -40.0), np.full(observed.shape, 40.0)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(logit + shift[..., None])))
        excess = (rows * p).sum(axis=-1) - observed
        slope = (rows * p * (1 - p)).sum(axis=-1)
        high = np.where(excess > 0, shift, high)
        low = np.where(excess <= 0, shift, low)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = shift - excess / slope
        shift = np.where((step > low) & (step < high), step, (low + high) / 2)
    shift = np.where(observed == 0, -40.0, np.where(observed == total, 40.0, shift))
    base = 1.0 / (1.0 + np.exp(-logit))
    new = 1.0 / (1.0 + np.exp(-(logit + shift[..., None])))
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (frauds * np.log(new / base)
                + np.where(rows > frauds, (rows - frauds) * np.log((1 - new) / (1 - base)), 0.0))
    return 2 * gain.sum(axis=-1)


class _CutSearch:
    """What the cut search reuses at every step: each column's sort order, its valid cut
    positions, and the candidate positions of the real columns and of their shadows.

    A cut at sorted position k puts rows k+1.. of a column above it. Between two consecutive
    frauds in that order the number of frauds above the cut is constant while the expected number
    only grows as the cut moves down, and G is convex in the expected number: so the best cut of
    each such stretch is at one of its two ends, and only those (at most 2 per fraud + 2) are
    evaluated. Shadows pair each column's values with the rows' labels and predictions shuffled
    (a fixed permutation per shadow), so they offer as many cut points as the real column.
    """

    def __init__(self, X, y, min_samples_leaf: int, n_shadows: int, rng):
        n, d = X.shape
        order = np.argsort(X, axis=0, kind="stable")
        self.x_sorted = np.take_along_axis(X, order, axis=0)
        k = np.arange(n - 1)[:, None]
        valid = ((self.x_sorted[1:] > self.x_sorted[:-1]) & (k + 1 >= min_samples_leaf)
                 & (n - 1 - k >= min_samples_leaf))
        next_valid = np.minimum.accumulate(np.where(valid, k, n)[::-1], axis=0)[::-1]
        prev_valid = np.maximum.accumulate(np.where(valid, k, -1), axis=0)
        self.frauds = int(y.sum())
        runs = np.arange(self.frauds + 1)
        # Frauds above a cut in run i (after the i-th fraud in sorted order): frauds - i.
        self.above = np.concatenate([self.frauds - runs, self.frauds - runs]).astype(float)
        self.rows, self.candidates = [], []
        for shadow in range(n_shadows + 1):
            rows = order if shadow == 0 else rng.permutation(n)[order]
            fraud_at = np.nonzero(y[rows].T)[1].reshape(d, self.frauds).T   # (frauds, d)
            starts = np.vstack([np.zeros((1, d), dtype=np.intp), fraud_at])
            ends = np.vstack([fraud_at - 1, np.full((1, d), n - 2, dtype=np.intp)])
            lo = np.take_along_axis(next_valid, np.clip(starts, 0, n - 2), axis=0)
            hi = np.take_along_axis(prev_valid, np.clip(ends, 0, n - 2), axis=0)
            usable = (starts <= ends) & (lo <= ends)
            self.rows.append(rows)
            self.candidates.append(np.vstack([np.where(usable, lo, -1),
                                              np.where(usable, hi, -1)]))

    def best(self, p, shadow: int = 0):
        """(G, sorted position) of each column's best cut, given the current predictions p."""
        cumulative = np.cumsum(p[self.rows[shadow]], axis=0)
        candidates = self.candidates[shadow]
        total_expected = cumulative[-1]
        expected = total_expected - np.take_along_axis(cumulative, np.maximum(candidates, 0), 0)
        g = np.where(candidates >= 0,
                     g_statistic(self.above[:, None], expected, self.frauds, total_expected),
                     -np.inf)
        best = np.argmax(g, axis=0)
        columns = np.arange(g.shape[1])
        return g[best, columns], candidates[best, columns]

    def refine(self, column: int, cell_of, cell_logit, y) -> int:
        """Sorted position of the column's cut with the largest deviance gain when each side of
        it gets its own logit shift over the current model (binomial, so a side whose rows the
        model already gives high probabilities cannot claim more than all of them)."""
        order = self.rows[0][:, column]
        onehot = np.zeros((len(order), len(cell_logit)))
        onehot[np.arange(len(order)), cell_of[order]] = 1.0
        rows_below = np.cumsum(onehot, axis=0)
        frauds_below = np.cumsum(onehot * y[order, None], axis=0)
        candidates = np.unique(self.candidates[0][:, column])
        candidates = candidates[candidates >= 0]
        below_r, below_f = rows_below[candidates], frauds_below[candidates]
        gain = (shift_deviance(rows_below[-1] - below_r, frauds_below[-1] - below_f, cell_logit)
                + shift_deviance(below_r, below_f, cell_logit))
        return int(candidates[int(np.argmax(gain))])

    def cut_value(self, position: int, column: int) -> float:
        return float((self.x_sorted[position, column] + self.x_sorted[position + 1, column]) / 2)


def _cells(Z):
    """Distinct rows of a 0/1 design (the cells of the cuts) and each row's cell."""
    bits = np.arange(Z.shape[1])
    keys, cell_of = np.unique(Z.astype(np.int64) @ (1 << bits), return_inverse=True)
    return ((keys[:, None] >> bits) & 1).astype(float), cell_of.ravel()


# The best of this many shuffled columns estimates how far a noise feature's best cut can reach;
# with fewer features each is shuffled more often to get there.
MIN_SHADOW_COLUMNS = 60


class ScorecardClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier: cuts added one at a time to an L2 logistic regression (module docstring).

    min_samples_leaf: fewest rows on either side of a cut.
    n_shadows: shuffled copies of every feature the search also runs on (more when that gives
        fewer than MIN_SHADOW_COLUMNS shadows in all).
    margin: how many times the best shadow cut's G a cut's G must exceed to join.
    max_cuts: most cuts in the model.
    C: inverse L2 strength of the logistic regression.
    """

    def __init__(self, min_samples_leaf: int = 50, n_shadows: int = 3, margin: float = 2.0,
                 max_cuts: int = 16, C: float = 10.0, random_state: int = 42):
        self.min_samples_leaf = min_samples_leaf
        self.n_shadows = n_shadows
        self.margin = margin
        self.max_cuts = max_cuts
        self.C = C
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.utils.validation import check_X_y

        X, y = check_X_y(X, y, dtype=float)
        self.classes_, y = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"ScorecardClassifier needs two classes, got {len(self.classes_)}")
        self.n_features_in_ = X.shape[1]
        self.n_shadows_ = max(self.n_shadows, -(-MIN_SHADOW_COLUMNS // X.shape[1]))
        search = _CutSearch(X, y, self.min_samples_leaf, self.n_shadows_,
                            np.random.RandomState(self.random_state))
        # No cuts yet: one cell, the base rate.
        cell_of = np.zeros(len(y), np.intp)
        cell_logit = np.array([np.log(y.mean() / (1 - y.mean()))])
        p = np.full(len(y), y.mean())
        self.features_, self.cuts_ = np.zeros(0, np.intp), np.zeros(0)
        self.coef_, self.intercept_ = np.zeros(0), float(cell_logit[0])
        self.steps_ = []
        while len(self.cuts_) < self.max_cuts:
            gains, _ = search.best(p)
            j = int(np.argmax(gains))
            shadow = max(float(search.best(p, s)[0].max())
                         for s in range(1, self.n_shadows_ + 1))
            self.steps_.append({"feature": j, "g": float(gains[j]), "shadow_g": shadow})
            if not (np.isfinite(gains[j]) and gains[j] > self.margin * shadow):
                break
            cut = search.cut_value(search.refine(j, cell_of, cell_logit, y), j)
            if (j, cut) in zip(self.features_.tolist(), self.cuts_.tolist()):
                break  # the model already has this cut: nothing left it can add
            self.features_ = np.append(self.features_, j)
            self.cuts_ = np.append(self.cuts_, cut)
            cell_logit, cell_of = self._fit_weights(self._design(X), y)
            p = self._probability(cell_logit)[cell_of]
        return self

    def _fit_weights(self, Z, y):
        """Fit the logistic regression on the cells (same optimum as on the rows, far fewer rows);
        return each cell's logit and each row's cell."""
        from sklearn.linear_model import LogisticRegression

        cells, cell_of = _cells(Z)
        frauds = np.bincount(cell_of, weights=y, minlength=len(cells))
        rows = np.bincount(cell_of, minlength=len(cells)).astype(float)
        both = np.vstack([cells, cells])
        labels = np.concatenate([np.ones(len(cells)), np.zeros(len(cells))])
        weights = np.concatenate([frauds, rows - frauds])
        keep = weights > 0
        regression = LogisticRegression(C=self.C, max_iter=1000)
        regression.fit(both[keep], labels[keep], sample_weight=weights[keep])
        self.coef_ = regression.coef_.ravel().copy()
        self.intercept_ = float(regression.intercept_[0])
        return cells @ self.coef_ + self.intercept_, cell_of

    def scorecard(self, feature_names) -> dict:
        """What the model computes, for people: logit = intercept + the weights of the cuts a row
        is above (in the order the search added them)."""
        return {"intercept": self.intercept_,
                "cuts": [{"feature": feature_names[j], "above": float(c), "weight": float(w)}
                         for j, c, w in zip(self.features_, self.cuts_, self.coef_)]}

    def _design(self, X):
        steps = (X[:, self.features_] > self.cuts_).astype(float)
        knots = getattr(self, "cdf_knots_", None)
        if knots is None:
            return steps
        # A model fitted by the previous version (one cut per kept feature plus that feature's
        # empirical CDF): the registry's champion may be one, and the test stage scores it with
        # this code, so it must score exactly as it did.
        grid = np.linspace(0.0, 1.0, knots.shape[1])
        cdfs = [np.interp(X[:, j], row, grid) for j, row in zip(self.features_, knots)]
        return np.column_stack([steps, *cdfs]) if len(self.features_) else steps

    @staticmethod
    def _probability(z):
        return 1.0 / (1.0 + np.exp(-z))

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D array with {self.n_features_in_} columns, "
                             f"got shape {X.shape}")
        return self._design(X) @ self.coef_ + self.intercept_

    def predict_proba(self, X):
        p = self._probability(self.decision_function(X))
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
