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
        # Positions and row numbers as int32 (n < 2**31): at millions of rows these (n, d) tables
        # are most of the fit's memory.
        index = np.int32 if n < 2**31 else np.intp
        order = np.argsort(X, axis=0, kind="stable").astype(index)
        self.X = X
        x_sorted = np.take_along_axis(X, order, axis=0)
        k = np.arange(n - 1, dtype=index)[:, None]
        valid = ((x_sorted[1:] > x_sorted[:-1]) & (k + 1 >= min_samples_leaf)
                 & (n - 1 - k >= min_samples_leaf))
        del x_sorted
        next_valid = np.minimum.accumulate(np.where(valid, k, index(n))[::-1], axis=0)[::-1]
        prev_valid = np.maximum.accumulate(np.where(valid, k, index(-1)), axis=0)
        del valid
        self.frauds = int(y.sum())
        runs = np.arange(self.frauds + 1)
        # Frauds above a cut in run i (after the i-th fraud in sorted order): frauds - i.
        self.above = np.concatenate([self.frauds - runs, self.frauds - runs]).astype(float)
        self.rows, self.candidates = [], []
        is_fraud = np.asarray(y, dtype=bool)
        for shadow in range(n_shadows + 1):
            rows = order if shadow == 0 else rng.permutation(n).astype(index)[order]
            fraud_at = np.nonzero(is_fraud[rows].T)[1].reshape(d, self.frauds).T   # (frauds, d)
            starts = np.vstack([np.zeros((1, d), dtype=np.intp), fraud_at])
            ends = np.vstack([fraud_at - 1, np.full((1, d), n - 2, dtype=np.intp)])
            lo = np.take_along_axis(next_valid, np.clip(starts, 0, n - 2), axis=0)
            hi = np.take_along_axis(prev_valid, np.clip(ends, 0, n - 2), axis=0)
            usable = (starts <= ends) & (lo <= ends)
            self.rows.append(rows)
            self.candidates.append(np.vstack([np.where(usable, lo, -1),
                                              np.where(usable, hi, -1)]).astype(np.intp))

    def best(self, p, shadow: int = 0):
        """(G, sorted position) of each column's best cut, given the current predictions p."""
        cumulative = p[self.rows[shadow]]
        np.cumsum(cumulative, axis=0, out=cumulative)
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
        cell_sorted, fraud_sorted = cell_of[order], np.asarray(y, dtype=bool)[order]
        candidates = np.unique(self.candidates[0][:, column])
        candidates = candidates[candidates >= 0]
        # Rows and frauds of each cell at or below each candidate position, counted per cell by
        # binary search over the cell's positions (memory O(rows), not rows x cells).
        by_cell = np.argsort(cell_sorted, kind="stable")
        bounds = np.searchsorted(cell_sorted[by_cell], np.arange(len(cell_logit) + 1))
        shape = (len(candidates), len(cell_logit))
        below_r, below_f = np.zeros(shape), np.zeros(shape)
        total_r, total_f = np.zeros(len(cell_logit)), np.zeros(len(cell_logit))
        for c in range(len(cell_logit)):
            positions = by_cell[bounds[c]:bounds[c + 1]]
            fraud_positions = positions[fraud_sorted[positions]]
            below_r[:, c] = np.searchsorted(positions, candidates, side="right")
            below_f[:, c] = np.searchsorted(fraud_positions, candidates, side="right")
            total_r[c], total_f[c] = len(positions), len(fraud_positions)
        gain = (shift_deviance(total_r - below_r, total_f - below_f, cell_logit)
                + shift_deviance(below_r, below_f, cell_logit))
        return int(candidates[int(np.argmax(gain))])

    def cut_value(self, position: int, column: int) -> float:
        below, above = self.X[self.rows[0][[position, position + 1], column], column]
        return float((below + above) / 2)


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


def fold_splits(y, folds: int = 5, random_state: int = 42):
    """The stratified K-fold (fit rows, score rows) pairs every out-of-fold figure uses."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y))


def out_of_fold_scores(estimator, X, y, folds: int = 5, random_state: int = 42):
    """Scores of each row from a clone of estimator fitted without it (stratified K-fold)."""
    from sklearn.base import clone

    scores = np.zeros(len(y))
    for fit_rows, score_rows in fold_splits(y, folds, random_state):
        model = clone(estimator).fit(X[fit_rows], y[fit_rows])
        scores[score_rows] = model.predict_proba(X[score_rows])[:, 1]
    return scores


# --- the model families the training entry point chooses from ----------------------------------

# The family names are declared by the training entry point's `model-family` hyperparameter
# (pipeline_src.train.FAMILIES, simplest first: the order ties are broken in), which synth
# checks without numpy or scikit-learn.
from pipeline_src.train import FAMILIES  # noqa: E402
# A family ties with the best when its out-of-fold PR-AUC is within one standard error of the
# best one's (the standard error of the per-fold differences between the two, the folds being
# shared: the one-standard-error rule, Hastie, Tibshirani & Friedman, The Elements of Statistical
# Learning, 2nd ed., section 7.10), or at least this fraction of it; the simplest of the tied
# families is chosen. With a few hundred frauds the per-fold differences between two families
# spread over several hundredths of PR-AUC: a lead smaller than that is not evidence that the
# more complex family is better.
TIE_RATIO = 0.99


def logistic_pipeline(categorical, C: float = 1.0):
    """L2 logistic regression on encoded features: numeric columns median-imputed (with a
    missing-value indicator for each column that had missing values in training) and
    standardised; categorical codes one-hot encoded (a missing or unseen code gets no column)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [j for j, is_cat in enumerate(categorical) if not is_cat]
    categories = [j for j, is_cat in enumerate(categorical) if is_cat]
    parts = []
    if numeric:
        parts.append(("numeric", make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler()), numeric))
    if categories:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                      categories))
    return Pipeline([("encode", ColumnTransformer(parts)),
                     ("regression", LogisticRegression(C=C, max_iter=2000))])


# Early stopping judges each new tree on the validation loss of a held-out tenth of the rows. With
# few frauds there that loss moves more by chance than by a tree (measured: with 1-2 % frauds in
# 40k rows it stopped after 40-75 trees, at a lower held-out PR-AUC than 100 trees without it),
# so it is on only when that tenth holds at least this many frauds.
EARLY_STOPPING_MIN_FRAUDS = 1_000
# Each tree of the forest is grown on a bootstrap sample of at most this many rows: the forest's
# cost stops growing with the data there (scikit-learn's max_samples).
FOREST_MAX_SAMPLES = 50_000


def hist_gradient_boosting(categorical, frauds: int, max_iter: int = 100,
                           random_state: int = 42, ordinal: bool = False):
    """scikit-learn's HistGradientBoosting with its defaults, early stopping on a held-out tenth
    of the rows when it holds EARLY_STOPPING_MIN_FRAUDS frauds (`frauds` is the number in the
    rows it will be fitted on).

    Categorical codes are split natively (a subset of categories per split; missing and unseen
    codes follow the learned missing-value branch), or with ordinal=True as ordered numbers (a
    threshold per split, as scikit-learn does by default; missing and unseen codes, NaN after
    encoding, follow the missing-value branch). Neither is better on all data: a native split
    orders the categories by their gradient statistics on the very rows it then splits, so with
    few frauds per category it can pick a subset that fits noise, while a threshold needs several
    splits to isolate risky codes that are not adjacent. The out-of-fold selection decides. The
    ordinal form passes an explicit all-False mask, which is how family_of tells them apart."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if ordinal:
        features = [False] * len(categorical)
    else:
        features = list(categorical) if any(categorical) else None
    return HistGradientBoostingClassifier(
        categorical_features=features,
        max_iter=max_iter, early_stopping=frauds // 10 >= EARLY_STOPPING_MIN_FRAUDS,
        random_state=random_state)


def random_forest(rows: int, n_estimators: int = 100, random_state: int = 42):
    """scikit-learn's RandomForest with its defaults (fully grown trees), one job, and bootstrap
    samples of at most FOREST_MAX_SAMPLES rows (`rows` is the number it will be fitted on)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators, n_jobs=1, random_state=random_state,
        max_samples=None if rows <= FOREST_MAX_SAMPLES else FOREST_MAX_SAMPLES / rows)


# The blend family averages the probabilities of the families with the best out-of-fold PR-AUC.
# Two models that reach a similar PR-AUC by different means (a forest of deep trees on bootstrap
# samples, boosting of shallow trees, a linear model) err on partly different rows, so their mean
# ranks frauds better than either whenever neither dominates (Breiman, "Stacked Regressions",
# Machine Learning 24, 1996; Caruana et al., "Ensemble selection from libraries of models", ICML
# 2004). Its out-of-fold scores are the mean of its members' (no extra fit), and as the most
# complex family it is chosen only when it beats the simpler ones by more than the tie rule.
BLEND_MEMBERS = 2


class BlendClassifier(ClassifierMixin, BaseEstimator):
    """A soft vote: the mean of the members' predicted probabilities."""

    def __init__(self, estimators=()):
        self.estimators = estimators

    def fit(self, X, y):
        from sklearn.base import clone

        self.estimators_ = [clone(estimator).fit(X, y) for estimator in self.estimators]
        self.classes_ = self.estimators_[0].classes_
        return self

    def predict_proba(self, X):
        return np.mean([estimator.predict_proba(X) for estimator in self.estimators_], axis=0)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_estimator(family: str, categorical, params: dict, y, members=()):
    """An unfitted estimator of a family for fitting on rows labelled y; params holds the entry
    point's hyperparameters, members the blend's families."""
    if family == "blend":
        if len(members) < 2:
            raise ValueError(f"a blend needs at least two member families, got {list(members)}")
        return BlendClassifier([make_estimator(m, categorical, params, y) for m in members])
    if family == "scorecard":
        return ScorecardClassifier(**params["scorecard"])
    if family == "logistic":
        return logistic_pipeline(categorical, **params["logistic"])
    if family in ("hist_gradient_boosting", "hist_gradient_boosting_ordinal"):
        return hist_gradient_boosting(categorical, int(np.sum(y)),
                                      **params["hist_gradient_boosting"],
                                      ordinal=family == "hist_gradient_boosting_ordinal")
    if family == "random_forest":
        return random_forest(len(y), **params["random_forest"])
    raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def family_of(estimator) -> str:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, ScorecardClassifier):
        return "scorecard"
    if isinstance(estimator, BlendClassifier):
        return "blend"
    if isinstance(estimator, Pipeline):
        return "logistic"
    if isinstance(estimator, HistGradientBoostingClassifier):
        mask = estimator.categorical_features
        if mask is not None and not np.any(mask):
            return "hist_gradient_boosting_ordinal"
        return "hist_gradient_boosting"
    if isinstance(estimator, RandomForestClassifier):
        return "random_forest"
    raise ValueError(f"{type(estimator).__name__} is not one of the pipeline's model families")


def eligible(family: str, X, categorical=(), families=FAMILIES) -> str | None:
    """Why a family is not a candidate on X, or None. The scorecard cuts on values and has no rule
    for a missing one, so it is a candidate only when the training rows have none. Without a
    categorical column the ordinal boosting is the native one (the same model), so it is not
    fitted twice when both are candidates."""
    if family == "scorecard" and np.isnan(X).any():
        return "not a candidate: the training rows have missing values"
    if (family == "hist_gradient_boosting_ordinal" and not any(categorical)
            and "hist_gradient_boosting" in families):
        return "not a candidate: no categorical column (the same model as hist_gradient_boosting)"
    return None


def choose_family(X, y, categorical, params: dict, families=FAMILIES, folds: int = 5,
                  random_state: int = 42):
    """Out-of-fold PR-AUC of every eligible family on the same stratified folds; the chosen
    family is the simplest that ties with the best (TIE_RATIO's comment).

    Returns (family, candidates, out-of-fold scores of the chosen family), candidates being a
    list in FAMILIES order of {"family", "pr_auc", "fold_pr_auc": [per fold], "standard_error"
    (of the per-fold differences to the best family), "ties_best"} (and for the blend its
    "members") or {"family", "skipped": reason}. A pinned blend (families == ("blend",)) fits
    every other family to choose its members."""
    from pipeline_src.evaluate import pr_auc

    pinned_blend = tuple(families) == ("blend",)
    # A pinned blend still chooses its members among every other family.
    fitted = [f for f in (FAMILIES if pinned_blend else families) if f != "blend"]
    candidates, scores = {}, {}
    for family in fitted:
        reason = eligible(family, X, categorical, fitted)
        if reason:
            candidates[family] = {"skipped": reason}
            continue
        estimator = make_estimator(family, categorical, params, _fold_labels(y, folds))
        scores[family] = out_of_fold_scores(estimator, X, y, folds=folds,
                                            random_state=random_state)
        candidates[family] = {"pr_auc": pr_auc(y, scores[family])}
    if not scores:
        raise ValueError("no model family can be fitted on these rows: "
                         + "; ".join(f"{f}: {c['skipped']}" for f, c in candidates.items()))
    if "blend" in families:
        # sorted() is stable: of two families with the same figure the simpler one joins.
        members = sorted(scores, key=lambda f: -candidates[f]["pr_auc"])[:BLEND_MEMBERS]
        if len(members) < 2:
            candidates["blend"] = {"skipped": "not a candidate: fewer than two families could be "
                                              "fitted"}
            if pinned_blend:
                raise ValueError(candidates["blend"]["skipped"][len("not a candidate: "):])
        else:
            scores["blend"] = np.mean([scores[f] for f in members], axis=0)
            candidates["blend"] = {"members": members, "pr_auc": pr_auc(y, scores["blend"])}
    splits = fold_splits(y, folds, random_state)
    for family, figures in scores.items():
        candidates[family]["fold_pr_auc"] = [pr_auc(y[rows], figures[rows]) for _, rows in splits]
    best = max(scores, key=lambda f: candidates[f]["pr_auc"])
    for family in scores:
        c = candidates[family]
        c["standard_error"] = standard_error(np.subtract(candidates[best]["fold_pr_auc"],
                                                         c["fold_pr_auc"]))
        c["ties_best"] = bool(ties(c["pr_auc"], candidates[best]["pr_auc"], c["standard_error"]))
    chosen = "blend" if pinned_blend else next(
        f for f in FAMILIES if f in scores and candidates[f]["ties_best"])
    return chosen, [{"family": f, **c} for f, c in candidates.items()], scores[chosen]


def standard_error(differences) -> float:
    """Standard error of the mean of per-fold differences (0 when they are all equal)."""
    differences = np.asarray(differences, dtype=float)
    return float(np.std(differences, ddof=1) / np.sqrt(len(differences)))


def ties(figure: float, best: float, error: float) -> bool:
    """Whether an out-of-fold PR-AUC ties with the best one (TIE_RATIO's comment)."""
    return figure >= best - error or figure >= TIE_RATIO * best


def _fold_labels(y, folds: int):
    """Labels with the row and fraud counts of one training fold of y (what the per-fold
    estimator's size-dependent settings are computed from)."""
    rows, frauds = len(y) * (folds - 1) // folds, int(np.sum(y)) * (folds - 1) // folds
    return np.r_[np.ones(frauds), np.zeros(rows - frauds)]


def stratified_subsample(y, max_rows: int, random_state: int = 42):
    """Indices of at most max_rows rows keeping the fraud rate (all rows when there are fewer)."""
    if len(y) <= max_rows:
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=max_rows, stratify=y,
                               random_state=random_state)
    return np.sort(keep)
