"""Model benchmark: the training entry point's procedure against scikit-learn defaults on five data
families, each with its own generator, and against the Bayes-optimal scorer where it is known.

    .venv/bin/python bench/bench_model.py                       # every family, every seed
    .venv/bin/python bench/bench_model.py --family continuous   # one family (results merge)
    .venv/bin/python bench/bench_model.py --family merchant --seeds 200 201  # some seeds; the
                                                # family's runs of other seeds saved before stay
    .venv/bin/python bench/bench_model.py --report              # the table of the saved results
    .venv/bin/python bench/bench_model.py --quick               # CI smoke run; no targets

Families (the generators are below; every one knows its own P(fraud | x), so the Bayes scorer
is the ceiling on each):
- recipe: the sample data generator (pipeline_src/sample_data.py), 50k rows per seed split as
  the pipeline does (train + validation = 40k), label a step function of four columns, 0.3 %;
- continuous: 20 standard-normal columns, fraud log-odds a smooth function (a product, a sine, a
  square, a hinge, a slope) of six of them, 1 %; 30k training rows;
- categorical: 4 categorical columns (12, 8, 30, 5 codes) and 6 numeric ones; fraud log-odds an
  interaction table over two categorical columns plus main effects, 1.3 %; 30k training rows;
- mixed: skewed categorical codes, a heavy-tailed amount, nullable columns whose missingness
  carries risk, a categorical x amount interaction, 1 %; 30k training rows;
- merchant (held out): per-merchant slopes on log(amount) over 80 Zipf-frequent merchants, a
  channel x night-time curve, risky countries for young accounts only, 1 %; 30k training rows.

Models, all fitted on the same train + validation rows of each seed and scored on one held-out
set per family (300k rows for recipe, 200k for the others): this pipeline (train.train, exactly
the entry point's procedure, family chosen per seed), and scikit-learn defaults:
HistGradientBoostingClassifier(), RandomForestClassifier() and SimpleImputer + StandardScaler +
LogisticRegression(). PR-AUC is evaluate.pr_auc, the pipeline's one definition.

Seeds and families held out (what the model was and was not changed on):
- session 5: recipe and continuous were the development families; categorical was meant to be
  held out, but its first run changed the model (early stopping rule, the forest candidate), so
  mixed, defined after those changes, was the held-out family, with seeds 100-102;
- session 6: the categorical family's miss (0.83 x the default HistGradientBoosting) was seen on
  seeds 0-1 and 100-102 and led to two changes (boosting on ordered codes as a candidate; the
  one-standard-error tie rule), developed on categorical and mixed seeds 0-1 and 100-102. So all
  four families and those five seeds are development data now; the merchant family and seeds
  200-202 were defined and committed before any model ran on them and are the held-out ones
  (DEVELOPMENT_SEEDS, HELD_OUT_SEEDS, HELD_OUT_FAMILIES below). The table reports all seeds,
  development seeds and held-out seeds apart;
- session 7: the continuous family's miss (0.978 x the default forest) led to the blend family,
  developed on seeds 0-1 of recipe, continuous, categorical and mixed; merchant and seeds
  200-202 stayed held out (no model of this version ran on them before the reported run).
Targets (issue #19), on the mean over all seeds of a family: PR-AUC >= 0.98 x the best baseline
of the same run, and >= 0.95 x Bayes on the recipe family. Exit 1 if one is missed.
Fit time is process CPU time, one thread; each run records its whole CPU time and the load
average. "ours / best baseline" is the ratio of the means (the targets'); the table also gives
the mean ± std over seeds of the per-seed ratio. Writes bench/results/bench_model_<family>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Seeds 0-1 were the first session's development seeds, 100-102 its held-out seeds; the categorical
# family's miss was seen on them and the boosting candidates changed after it (session 6), so all
# five are development seeds now. 200-202 were designated then, before any run on them.
DEVELOPMENT_SEEDS = (0, 1, 100, 101, 102)
HELD_OUT_SEEDS = (200, 201, 202)
# The family defined and committed in session 6 before any model ran on it (every other family
# has been looked at while changing the model).
HELD_OUT_FAMILIES = ("merchant",)
HOLDOUT_SEED = 20_261_122
TARGETS = {"vs_best_baseline": 0.98, "vs_bayes": 0.95}
BASELINES = ("hgb_default", "rf_default", "logistic_default")
RESULTS = ROOT / "bench" / "results"


def bayes_probability(df):
    """P(fraud | x) of the sample generator (pipeline_src/sample_data.py): the label is
    s + 0.15 * U(0, 1) > 0.5 with s the weighted indicator sum, so P = clip((s - 0.35) / 0.15)."""
    import numpy as np

    s = (0.3 * (df["amount"] > 200) + 0.2 * (df["hour"] > 22)
         + 0.25 * (df["distance_from_home"] > 50) + 0.1 * (df["online_transaction"] == 1))
    return np.clip((s.to_numpy(dtype=float) - 0.35) / 0.15, 0.0, 1.0)


def recipe(n: int, seed: int):
    """(X, y, P(fraud | x), categorical mask) of the sample generator."""
    from pipeline_src.contract import categorical_mask, encode, label_name
    from pipeline_src.sample_data import generate

    df = generate(n, seed)
    return encode(df), df[label_name()].to_numpy(), bayes_probability(df), categorical_mask()


def continuous(n: int, seed: int):
    """20 standard-normal columns; fraud log-odds smooth in six of them, about 1 % positives."""
    import numpy as np
    from scipy.special import expit

    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 20))
    logit = (-9.0 + 1.5 * X[:, 0] * X[:, 1] + 2.0 * np.sin(1.5 * X[:, 2]) + 0.8 * X[:, 3] ** 2
             + np.maximum(X[:, 4], 0) + 0.6 * X[:, 5])
    p = expit(logit)
    return X, (rng.uniform(size=n) < p).astype(int), p, [False] * 20


# The categorical family's structure is fixed (its own seed); each data seed draws rows from it.
CATEGORY_COUNTS = (12, 8, 30, 5)


def categorical(n: int, seed: int):
    """4 categorical columns (codes 0..k-1) then 6 numeric ones; fraud log-odds an interaction
    table over the first two categorical columns (a few cells much riskier), a main effect of the
    third, one code of the fourth, and two numeric terms; about 1.3 % positives."""
    import numpy as np
    from scipy.special import expit

    family = np.random.RandomState(7)
    table = family.normal(0, 1.0, CATEGORY_COUNTS[:2])
    table[family.uniform(size=CATEGORY_COUNTS[:2]) < 0.12] += 3.0
    main = family.normal(0, 0.7, CATEGORY_COUNTS[2])
    rng = np.random.RandomState(seed)
    codes = np.column_stack([rng.randint(0, k, n) for k in CATEGORY_COUNTS])
    numeric = rng.normal(size=(n, 6))
    logit = (-6.5 + table[codes[:, 0], codes[:, 1]] + main[codes[:, 2]] + 0.6 * (codes[:, 3] == 2)
             + 0.8 * numeric[:, 0] + 0.5 * numeric[:, 1] * numeric[:, 2])
    p = expit(logit)
    X = np.column_stack([codes.astype(float), numeric])
    return X, (rng.uniform(size=n) < p).astype(int), p, [True] * 4 + [False] * 6


def mixed(n: int, seed: int):
    """Held-out family (defined before the forest joined the candidates and never run before the
    final benchmark): 2 categorical columns with skewed code frequencies (6 and 40 codes), a
    heavy-tailed amount, 2 nullable numeric columns whose missingness carries risk, 7 noise
    columns; log-odds steps on the amount, a risky subset of the 40 codes that matters only for
    large amounts, and a smooth numeric term; about 1 % positives."""
    import numpy as np
    from scipy.special import expit

    family = np.random.RandomState(11)
    frequencies = [family.dirichlet(np.ones(k) * 0.5) for k in (6, 40)]
    effect = family.normal(0, 0.8, 6)
    risky = family.uniform(size=40) < 0.15
    rng = np.random.RandomState(seed)
    codes = np.column_stack([rng.choice(len(f), n, p=f) for f in frequencies])
    amount = rng.lognormal(3.5, 1.2, n)
    nullable = rng.normal(size=(n, 2))
    missing = rng.uniform(size=(n, 2)) < [0.1, 0.3]
    noise = rng.normal(size=(n, 7))
    logit = (-5.7 + effect[codes[:, 0]] + 1.2 * (amount > 150) + 0.8 * (amount > 600)
             + 2.0 * (risky[codes[:, 1]] & (amount > 100)) + 1.0 * np.tanh(nullable[:, 0])
             + 1.0 * missing[:, 1] - 0.5 * missing[:, 0])
    p = expit(logit)
    X = np.column_stack([codes.astype(float), amount, np.where(missing, np.nan, nullable), noise])
    return X, (rng.uniform(size=n) < p).astype(int), p, [True, True] + [False] * 10


def _intercept(logit, rate: float) -> float:
    """The intercept that makes the mean of expit(intercept + logit) equal rate."""
    import numpy as np
    from scipy.optimize import brentq
    from scipy.special import expit

    return brentq(lambda b: float(np.mean(expit(b + logit))) - rate, -40.0, 40.0)


MERCHANTS, CHANNELS, COUNTRIES = 80, 4, 25


def _merchant_logit(codes, amount, hour, age, velocity, family):
    """The merchant family's log-odds without its intercept (family: its fixed structure)."""
    import numpy as np

    log_amount = np.log(amount) - 3.8
    night = np.maximum(np.cos(2 * np.pi * (hour - 3.0) / 24), 0.0)
    return (family["base"][codes[:, 0]] + family["slope"][codes[:, 0]] * log_amount
            + family["night"][codes[:, 1]] * night
            + 2.0 * (family["young"][codes[:, 2]] & (age < 90))
            + 0.35 * velocity + 0.3 * log_amount)


def merchant(n: int, seed: int):
    """Held-out family, defined and committed (issue 19, session 6) before any model was run on
    it, after the categorical family had been used to change the model: categorical x numeric
    interactions of another shape than the categorical family's category x category table.
    80 merchants with Zipf-like frequencies, each with its own baseline and its own slope on
    log(amount) (a tenth of them risky: risk grows with the amount); 4 channels, each with its
    own weight on a smooth night-time curve of the hour; 25 countries of which about a fifth are
    risky only for accounts younger than 90 days; a velocity count; 4 noise columns. The
    intercept gives 1 % positives on average. Columns: merchant, channel, country (codes), amount,
    hour, account age, velocity, noise x 4."""
    import numpy as np
    from scipy.special import expit

    structure = np.random.RandomState(23)
    frequency = 1.0 / np.arange(1, MERCHANTS + 1) ** 1.1
    family = {
        "merchant_p": structure.permutation(frequency / frequency.sum()),
        "base": structure.normal(0, 0.4, MERCHANTS),
        "slope": structure.normal(0, 0.3, MERCHANTS) + 1.2 * (structure.uniform(size=MERCHANTS) < 0.1),
        "night": np.array([0.0, 0.4, 2.0, 0.8]),
        "channel_p": np.array([0.5, 0.3, 0.15, 0.05]),
        "country_p": structure.dirichlet(np.ones(COUNTRIES)),
        "young": structure.uniform(size=COUNTRIES) < 0.2,
    }

    def draw(rng, rows):
        codes = np.column_stack([rng.choice(MERCHANTS, rows, p=family["merchant_p"]),
                                 rng.choice(CHANNELS, rows, p=family["channel_p"]),
                                 rng.choice(COUNTRIES, rows, p=family["country_p"])])
        amount, hour = rng.lognormal(3.8, 1.0, rows), rng.uniform(0, 24, rows)
        age, velocity = rng.exponential(400, rows), rng.poisson(1.0, rows)
        return codes, amount, hour, age, velocity

    # The intercept is part of the family: solved once on its own fixed sample.
    intercept = _intercept(_merchant_logit(*draw(np.random.RandomState(24), 200_000), family),
                           0.01)
    rng = np.random.RandomState(seed)
    codes, amount, hour, age, velocity = draw(rng, n)
    noise = rng.normal(size=(n, 4))
    p = expit(intercept + _merchant_logit(codes, amount, hour, age, velocity, family))
    X = np.column_stack([codes.astype(float), amount, hour, age, velocity, noise])
    return X, (rng.uniform(size=n) < p).astype(int), p, [True] * 3 + [False] * 8


FAMILIES = {"recipe": (recipe, 50_000, 300_000), "continuous": (continuous, 30_000, 200_000),
            "categorical": (categorical, 30_000, 200_000), "mixed": (mixed, 30_000, 200_000),
            "merchant": (merchant, 30_000, 200_000)}


def baselines(seed: int) -> dict:
    """scikit-learn defaults (one thread)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # The imputer only acts on the mixed family (the others have no missing value).
    return {"hgb_default": HistGradientBoostingClassifier(random_state=seed),
            "rf_default": RandomForestClassifier(random_state=seed, n_jobs=1),
            "logistic_default": make_pipeline(SimpleImputer(), StandardScaler(),
                                              LogisticRegression())}


def cpu_timed(fn):
    started = time.process_time()
    result = fn()
    return result, time.process_time() - started


def training_rows(family: str, seed: int):
    """The rows a seed trains on: for recipe, the pipeline's train + validation splits of 50k
    rows; otherwise the generator's rows, split 75/25 as train/validation channels."""
    import numpy as np
    import pandas as pd

    from pipeline_src.contract import categorical_mask, encode, label_name

    generator, rows, _ = FAMILIES[family]
    if family == "recipe":
        from pipeline_src.sample_data import generate, split

        parts = split(generate(rows, seed), seed)
        both = pd.concat([parts["train"], parts["validation"]], ignore_index=True)
        return (parts["train"], parts["validation"], encode(both), both[label_name()].to_numpy(),
                categorical_mask())
    X, y, _, mask = generator(rows, seed)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame[label_name()] = y
    cut = int(len(frame) * 0.75)
    return frame.iloc[:cut], frame.iloc[cut:], X, np.asarray(y), mask


def run_seed(family: str, seed: int, holdout) -> dict:
    """Every model trained on one seed's rows, scored on the family's held-out set."""
    from threadpoolctl import threadpool_limits

    from pipeline_src import train
    from pipeline_src.evaluate import pr_auc

    X_hold, y_hold = holdout
    train_df, validation_df, X, y, mask = training_rows(family, seed)
    args = train.parse_args(["--train", ".", "--validation", ".", "--model-dir", ".",
                             "--output-data-dir", ".", "--random-state", str(seed)])
    out = {"seed": seed, "held_out_seed": seed in HELD_OUT_SEEDS}
    started = time.process_time()
    with threadpool_limits(limits=1), _columns(family, X.shape[1], mask):
        (ours, metadata), out["fit_s"] = cpu_timed(
            lambda: train.train(train_df, validation_df, args))
        out["ours"] = pr_auc(y_hold, ours.predict_proba(X_hold)[:, 1])
        out["family"] = metadata["model_family"]
        out["candidates"] = {c["family"]: c.get("pr_auc") for c in
                             metadata["model_selection"]["candidates"]}
        for name, estimator in baselines(seed).items():
            fitted, out[f"fit_s_{name}"] = cpu_timed(lambda: estimator.fit(X, y))
            out[name] = pr_auc(y_hold, fitted.predict_proba(X_hold)[:, 1])
    out["cpu_s"] = time.process_time() - started
    out["load_1min"] = os.getloadavg()[0]
    return out


class _columns:
    """For the synthetic families, the entry point reads columns x0..x{d-1} with the family's
    categorical mask instead of the sample contract's (train.encode, train.categorical_mask and
    train.feature_names are where it takes them from)."""

    def __init__(self, family, d, mask):
        self.family, self.d, self.mask = family, d, mask

    def __enter__(self):
        from pipeline_src import train

        self.saved = train.encode, train.categorical_mask, train.feature_names
        if self.family != "recipe":
            names = [f"x{j}" for j in range(self.d)]
            train.encode = lambda frame: frame[names].to_numpy(dtype=float)
            train.categorical_mask = lambda: list(self.mask)
            train.feature_names = lambda: names
        return self

    def __exit__(self, *_):
        from pipeline_src import train

        train.encode, train.categorical_mask, train.feature_names = self.saved


def mean_std(values) -> tuple[float, float]:
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(family: str, runs: list[dict], bayes: float) -> dict:
    models = ("ours",) + BASELINES
    summary = {"bayes": bayes, "seeds": [r["seed"] for r in runs],
               "held_out_family": family in HELD_OUT_FAMILIES,
               "cpu_s": sum(r.get("cpu_s", 0.0) for r in runs)}
    for group, selected in (("all", runs), ("development", [r for r in runs if not r["held_out_seed"]]),
                            ("held_out", [r for r in runs if r["held_out_seed"]])):
        if not selected:
            continue
        rows = {m: mean_std(r[m] for r in selected) for m in models}
        best = max(BASELINES, key=lambda m: rows[m][0])
        ratios = mean_std(r["ours"] / r[best] for r in selected)
        summary[group] = {"rows": rows, "best_baseline": best, "ratio_per_seed": ratios,
                          "vs_best_baseline": rows["ours"][0] / rows[best][0],
                          "vs_bayes": rows["ours"][0] / bayes, "n": len(selected),
                          "families_chosen": {f: sum(r["family"] == f for r in selected)
                                              for f in sorted({r["family"] for r in selected})}}
    summary["fit_s"] = {m: statistics.median(r["fit_s" if m == "ours" else f"fit_s_{m}"]
                                             for r in runs) for m in models}
    checks = {f"{family}: PR-AUC >= {TARGETS['vs_best_baseline']} x best baseline":
              summary["all"]["vs_best_baseline"] >= TARGETS["vs_best_baseline"]}
    if family == "recipe":
        checks[f"{family}: PR-AUC >= {TARGETS['vs_bayes']} x Bayes"] = (
            summary["all"]["vs_bayes"] >= TARGETS["vs_bayes"])
    summary["checks"] = checks
    return summary


NAMES = {"ours": "this pipeline (family chosen per seed)", "hgb_default": "HistGradientBoosting()",
         "rf_default": "RandomForest()", "logistic_default": "Imputer+Scaler+LogisticRegression()"}


def table(results: dict) -> str:
    lines = []
    for family, result in results.items():
        summary = result["summary"]
        lines.append(f"\n{family}{' (held-out family)' if summary.get('held_out_family') else ''}"
                     f": {result['train_rows']:,} rows per seed, "
                     f"{result['holdout_rows']:,} held-out rows, Bayes PR-AUC "
                     f"{summary['bayes']:.4f}; seeds {summary['seeds']}, "
                     f"{summary.get('cpu_s', 0.0):.0f} s of CPU in all")
        for group in ("all", "development", "held_out"):
            if group not in summary:
                continue
            part = summary[group]
            lines.append(f"  seeds: {group} ({part['n']}); family chosen: "
                         + ", ".join(f"{f} x{k}" for f, k in part["families_chosen"].items()))
            lines.append(f"    {'model':<40}{'PR-AUC mean ± std':>20}{'/ best baseline':>17}"
                         f"{'/ Bayes':>9}{'fit CPU s':>11}")
            best = part["rows"][part["best_baseline"]][0]
            for model, (mean, std) in part["rows"].items():
                lines.append(f"    {NAMES[model]:<40}{mean:>12.4f} ± {std:.4f}{mean / best:>17.3f}"
                             f"{mean / summary['bayes']:>9.3f}{summary['fit_s'][model]:>11.1f}")
            if "ratio_per_seed" in part:
                mean, std = part["ratio_per_seed"]
                lines.append(f"    per-seed ratio this pipeline / {NAMES[part['best_baseline']]}"
                             f": {mean:.3f} ± {std:.3f}")
        lines.append("  targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}"
                                               for k, ok in summary["checks"].items()))
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The README's table: one row per family and seed group."""
    head = ("| family | seeds | n | this pipeline | HGB() | RF() | LR() | ours / best baseline "
            "(per-seed ratio) | Bayes | ours / Bayes | family chosen | CPU s |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    short = {"hgb_default": "hgb", "rf_default": "rf", "logistic_default": "lr"}
    for family, result in results.items():
        summary, runs = result["summary"], result["runs"]
        held_out_family = summary.get("held_out_family")
        for group in ("development", "held_out", "all"):
            if group not in summary or (held_out_family and group != "all"):
                continue
            part = summary[group]
            chosen = [r for r in runs if group == "all" or r["held_out_seed"] == (group == "held_out")]
            label = {"development": "dev", "held_out": "held-out",
                     "all": "all (family held out)" if held_out_family else "all"}[group]
            ratio = part["ratio_per_seed"]
            lines.append(
                f"| {family}{' (held-out family)' if held_out_family else ''} | {label} "
                f"{','.join(str(r['seed']) for r in chosen)} | {part['n']} | "
                + " | ".join(f"{m:.4f} ± {sd:.4f}" for m, sd in part["rows"].values())
                + f" | {part['vs_best_baseline']:.3f} ({short[part['best_baseline']]}; "
                f"{ratio[0]:.3f} ± {ratio[1]:.3f}) | {summary['bayes']:.4f} | "
                f"{part['vs_bayes']:.3f} | "
                + ", ".join(f"{f} x{k}" for f, k in part["families_chosen"].items())
                + f" | {sum(r.get('cpu_s', 0.0) for r in chosen):.0f} |")
    return "\n".join(lines)


def run_family(family: str, seeds, holdout_rows: int, train_rows: int | None = None,
               earlier=()) -> dict:
    """Run the seeds; runs of other seeds saved earlier (same rows) join the summary."""
    from pipeline_src.evaluate import pr_auc

    generator, default_rows, _ = FAMILIES[family]
    if train_rows:
        FAMILIES[family] = (generator, train_rows, holdout_rows)
    X_hold, y_hold, p_hold, _ = generator(holdout_rows, HOLDOUT_SEED)
    bayes = pr_auc(y_hold, p_hold)
    runs = [r for r in earlier if r["seed"] not in seeds]
    for seed in seeds:
        runs.append(run_seed(family, seed, (X_hold, y_hold)))
        r = runs[-1]
        print(f"{family} seed {seed}: ours {r['ours']:.4f} ({r['family']}), "
              + ", ".join(f"{m} {r[m]:.4f}" for m in BASELINES) + f"; Bayes {bayes:.4f}",
              flush=True)
    FAMILIES[family] = (generator, default_rows, FAMILIES[family][2])
    runs.sort(key=lambda r: r["seed"])
    return {"train_rows": train_rows or default_rows, "holdout_rows": holdout_rows, "runs": runs,
            "summary": summarize(family, runs, bayes)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=tuple(FAMILIES), action="append",
                        help="run only this family (repeatable); default: all")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="run only these seeds; runs of other seeds saved before for the "
                             "family are kept and summarised with them (default: "
                             f"{DEVELOPMENT_SEEDS + HELD_OUT_SEEDS})")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 5k training and 10k held-out rows; targets not enforced")
    parser.add_argument("--report", action="store_true",
                        help="print the table of the saved results; run nothing")
    parser.add_argument("--markdown", action="store_true",
                        help="with --report: print the README's markdown table instead")
    args = parser.parse_args(argv)
    families = args.family or list(FAMILIES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for family in families:
        path = RESULTS / f"bench_model_{family}.json"
        if args.report:
            if not path.is_file():
                print(f"error: {path} missing; run bench/bench_model.py --family {family}",
                      file=sys.stderr)
                return 2
            saved = results[family] = json.loads(path.read_text())
            # Summarised again by this code (a table of runs saved by an earlier version).
            saved["summary"] = summarize(family, saved["runs"], saved["summary"]["bayes"])
            continue
        if args.quick:
            results[family] = run_family(family, (0,), 10_000, train_rows=5_000)
            continue
        earlier = json.loads(path.read_text())["runs"] if args.seeds and path.is_file() else ()
        results[family] = run_family(family, tuple(args.seeds or DEVELOPMENT_SEEDS + HELD_OUT_SEEDS),
                                     FAMILIES[family][2], earlier=earlier)
        path.write_text(json.dumps(results[family], indent=2, default=float) + "\n")
    if args.report and args.markdown:
        print(markdown(results))
        return 0
    print(table(results))
    if args.quick:
        return 0
    return 0 if all(ok for r in results.values() for ok in r["summary"]["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
