"""Champion vs challenger benchmark: how often the verdict promotes a challenger that is no better,
how often it finds one that is, and how often it rejects a worse one, on the real loop.

    nice .venv/bin/python bench/bench_experiments.py [--experiments 2000] [--seeds 100,101,102,103]
                                                     [--quick] [--output FILE]

The loop, as the scheduled controller runs it: an experiment starts at day 0; every day the
verdict (pipeline_src/verdict.py decide(), the stage's ExperimentRule defaults, untuned) looks
at every paired transaction whose whole day is older than the label horizon and whose label has
arrived by then, and stops at its first promote or reject; at max_days without one it is
inconclusive. Labels arrive late (transaction time uniform in its day + Exponential(mean 5 days)
delay) and 15 % never arrive (left out, not counted as legitimate).

Traffic: 2,000 mirrored transactions a day; a latent risk z ~ N(0, 1); fraud when
0.9 z + N(0, 0.19) exceeds its 99 % quantile (1 % frauds); model m scores z + N(0, sd_m^2) and
flags its own top 1.5 % (each model its own threshold); a missed fraud costs its amount
(Exponential, mean 150), a false alarm 5 (a review); legitimate amounts do not enter the cost.
The champion has sd 0.6. Scenarios: same (challenger sd 0.6: exchangeable with the champion, so
the true difference is exactly 0), better (sd 0.35), worse (sd 1.0), and for the shape of the
power curve better-small (0.45) and worse-small (0.75). The true cost difference
per transaction of each is computed from 4 million transactions (seed 7, apart from every
experiment seed) and reported.

The simulation draws, per experiment and day, the multinomial counts of the paired outcomes
(legitimate or fraud x each model's decision) and their label arrival days, and draws an amount
for each fraud the two models disagree on: the same running sums (n, sum of D, sum of D^2,
labelled frauds) the verdict computes from capture files, so 2,000 experiments x 60 daily looks
take seconds. --end-to-end K (default 2) also writes K small experiments as real capture files
(two variant folders, SageMaker's JSON Lines) and label files, runs pipeline_src/verdict.py's
verdict() on them at several days, and checks that it counts exactly what the array path counts.

Seeds: 0 and 1 were used while writing this; the reported figures are on held-out seeds
(default 100-103, 500 experiments each per scenario), each scenario's share with a 95 % Wilson
interval and its spread across seeds. The reference in the same run: a fixed-sample 95 % normal
interval read at every look (what a dashboard checked daily does), on the same experiments.
The live phase (lambda_deploy/experiment.py; unpaired: each transaction served by one variant,
the challenger with probability --live-share) runs the same scenarios through
pipeline_src/verdict.py's live rule (inverse-propensity-weighted pseudo-outcomes, ipw_variance,
each variant's labelled frauds) with the same label delays and daily looks, at --live-rows
transactions a day (default 20,000: at the shadow's 2,000 a day it rarely decides, which the run
also reports), on seeds offset by 1000 from the shadow's. Its line comes second to last:
live: false_promotion_rate=F power=P worse_rejected=R alpha=A simulated=N share=S rows_per_day=R
Last line:
experiments: false_promotion_rate=F power=P worse_rejected=R alpha=A simulated=N
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS_PER_DAY = 2000
FRAUD_SHARE = 0.01
FLAG_SHARE = 0.015
CHAMPION_SD = 0.6
SCENARIOS = {"same": 0.6, "better": 0.35, "worse": 1.0,
             # Smaller differences, reported for the shape of the power curve.
             "better-small": 0.45, "worse-small": 0.75}
FRAUD_AMOUNT_MEAN = 150.0
LABELLED = 0.85
DELAY_MEAN_DAYS = 5.0
TRUTH_ROWS = 4_000_000
TRUTH_SEED = 7
DEV_SEEDS = (0, 1)
# The live phase (unpaired): the challenger's share of the requests, and the traffic. At 2,000
# transactions a day the unpaired comparison rarely decides within max_days (the run reports it
# too); 20,000 a day at a 20 % share is where power passes 0.8 on the development seeds (0-3).
LIVE_SHARE = 0.2
LIVE_ROWS_PER_DAY = 20_000
LIVE_SEED_OFFSET = 1000
HELD_OUT_SEEDS = (100, 101, 102, 103)
# Outcome categories of a paired transaction: legitimate/fraud x the two decisions.
# L0/F0: both models decide alike; Lp/Lm: only the challenger / only the champion flags a
# legitimate one; Fp/Fm: only the champion / only the challenger catches a fraud.
CATEGORIES = ("L0", "F0", "Lp", "Lm", "Fp", "Fm")


def rule():
    from pipeline_src.jobs.monitor_settings import ExperimentRule

    return ExperimentRule()


def wilson(hits: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a rate (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def transactions(n: int, challenger_sd: float, rng):
    """n paired transactions: (fraud, champion flags, challenger flags, fraud amount)."""
    from scipy.stats import norm

    z = rng.standard_normal(n)
    signal = 0.9 * z + math.sqrt(0.19) * rng.standard_normal(n)
    fraud = signal > norm.ppf(1 - FRAUD_SHARE)
    flags = []
    for sd in (CHAMPION_SD, challenger_sd):
        score = z + sd * rng.standard_normal(n)
        flags.append(score > math.sqrt(1 + sd * sd) * norm.ppf(1 - FLAG_SHARE))
    amount = rng.exponential(FRAUD_AMOUNT_MEAN, n)
    return fraud, flags[0], flags[1], amount


def category_probabilities(challenger_sd: float, symmetric: bool,
                           rows: int = TRUTH_ROWS) -> np.ndarray:
    """P(category) from `rows` transactions; exchangeable models get exact symmetry."""
    fraud, champion, challenger, _ = transactions(rows, challenger_sd,
                                                  np.random.default_rng(TRUTH_SEED))
    legit = ~fraud
    p = np.array([(legit & (champion == challenger)).mean(), (fraud & (champion == challenger)).mean(),
                  (legit & challenger & ~champion).mean(), (legit & champion & ~challenger).mean(),
                  (fraud & champion & ~challenger).mean(), (fraud & challenger & ~champion).mean()])
    if symmetric:
        p[2] = p[3] = (p[2] + p[3]) / 2
        p[4] = p[5] = (p[4] + p[5]) / 2
    return p / p.sum()


def true_difference(p: np.ndarray, false_alarm_cost: float) -> float:
    """E[cost(challenger) - cost(champion)] per transaction."""
    return false_alarm_cost * (p[2] - p[3]) + FRAUD_AMOUNT_MEAN * (p[4] - p[5])


def offset_probabilities(days: int, rng) -> np.ndarray:
    """P(label arrives `offset` whole days after its transaction's day), offsets 0..days-1."""
    draws = np.floor(rng.random(2_000_000) + rng.exponential(DELAY_MEAN_DAYS, 2_000_000))
    counts = np.bincount(np.minimum(draws, days).astype(int), minlength=days + 1)
    return counts[:days + 1] / counts.sum()


def simulate(p: np.ndarray, experiments: int, settings, rng, offsets: np.ndarray):
    """Outcome code and decision day of each experiment (the controller looks every day)."""
    from pipeline_src.verdict import decide

    days, horizon = settings.max_days, settings.label_horizon_days
    # [experiment, cohort day, arrival day] running sums; arrival index `days` = after the end.
    shape = (experiments, days, days + 1)
    counts = rng.multinomial(ROWS_PER_DAY, p, size=(experiments, days))  # E, C, 6
    labelled = rng.binomial(counts, LABELLED)
    arrivals = rng.multinomial(labelled, offsets)  # E, C, 6, offset
    cohort = np.arange(days)[:, None]
    target = np.minimum(cohort + np.arange(days + 1)[None, :], days)  # C, offset -> arrival
    flat = (np.arange(experiments)[:, None, None] * days + cohort[None]) * (days + 1) \
        + target[None]
    size = experiments * days * (days + 1)

    def spread(values):  # E, C, offset -> E, C, arrival
        return np.bincount(flat.ravel(), weights=values.ravel(), minlength=size).reshape(shape)

    n = spread(arrivals.sum(axis=2))
    frauds = spread(arrivals[:, :, [1, 4, 5]].sum(axis=2))
    c = settings.false_alarm_cost
    total = spread(c * (arrivals[:, :, 2] - arrivals[:, :, 3]))
    total_sq = spread(c * c * (arrivals[:, :, 2] + arrivals[:, :, 3]))
    # Frauds the models disagree on: one amount each, +amount when only the champion caught it.
    for category, sign in ((4, 1.0), (5, -1.0)):
        k = arrivals[:, :, category, :]
        index = np.repeat(flat.ravel(), k.ravel())
        amount = rng.exponential(FRAUD_AMOUNT_MEAN, index.size)
        total += sign * np.bincount(index, weights=amount, minlength=size).reshape(shape)
        total_sq += np.bincount(index, weights=amount * amount, minlength=size).reshape(shape)
    for array in (n, frauds, total, total_sq):
        np.cumsum(array, axis=1, out=array)
        np.cumsum(array, axis=2, out=array)
    codes = np.zeros((experiments, days), dtype=np.int8)
    naive = np.zeros((experiments, days), dtype=np.int8)
    for t in range(1, days + 1):
        last_cohort = t - horizon - 1
        if last_cohort < 0:
            looked = (np.zeros(experiments),) * 4
        else:
            looked = tuple(a[:, last_cohort, t - 1] for a in (n, total, total_sq, frauds))
        codes[:, t - 1] = decide(*looked, t, settings)[0]
        naive[:, t - 1] = naive_decide(*looked, t, settings)
    return first_outcome(codes), first_outcome(naive)[0]


def arm_probabilities(challenger_sd: float, symmetric: bool,
                      rows: int = TRUTH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Each model's P(legitimate unflagged, legitimate flagged, fraud caught, fraud missed) when
    it serves a transaction alone (the live phase), from the same transactions as
    category_probabilities; exchangeable models get exactly equal ones."""
    fraud, champion, challenger, _ = transactions(rows, challenger_sd,
                                                  np.random.default_rng(TRUTH_SEED))
    arms = [np.array([(~fraud & ~f).mean(), (~fraud & f).mean(), (fraud & f).mean(),
                      (fraud & ~f).mean()]) for f in (champion, challenger)]
    if symmetric:
        arms = [(arms[0] + arms[1]) / 2] * 2
    return arms[0] / arms[0].sum(), arms[1] / arms[1].sum()


def live_difference(champion: np.ndarray, challenger: np.ndarray, false_alarm_cost: float):
    """E[cost(challenger)] - E[cost(champion)] per transaction, each serving alone."""
    return float(false_alarm_cost * (challenger[1] - champion[1])
                 + FRAUD_AMOUNT_MEAN * (challenger[3] - champion[3]))


def simulate_live(champion: np.ndarray, challenger: np.ndarray, share: float, experiments: int,
                  settings, rng, offsets: np.ndarray, rows_per_day: int):
    """The live phase: each transaction served by one variant (the challenger with probability
    `share`), the verdict's running sums of the inverse-propensity-weighted pseudo-outcomes
    (pipeline_src/verdict.py ipw_terms, ipw_variance) and each variant's labelled frauds, looked
    at daily."""
    from pipeline_src.verdict import decide, ipw_variance

    days, horizon = settings.max_days, settings.label_horizon_days
    shape = (experiments, days, days + 1)
    probabilities = np.concatenate([(1 - share) * champion, share * challenger])
    counts = rng.multinomial(rows_per_day, probabilities, size=(experiments, days))  # E, C, 8
    labelled = rng.binomial(counts, LABELLED)
    arrivals = rng.multinomial(labelled, offsets)  # E, C, 8, offset
    cohort = np.arange(days)[:, None]
    target = np.minimum(cohort + np.arange(days + 1)[None, :], days)
    flat = (np.arange(experiments)[:, None, None] * days + cohort[None]) * (days + 1) \
        + target[None]
    size = experiments * days * (days + 1)

    def spread(values):
        return np.bincount(flat.ravel(), weights=values.ravel(), minlength=size).reshape(shape)

    n = spread(arrivals.sum(axis=2))
    frauds = [spread(arrivals[:, :, [2, 3]].sum(axis=2)), spread(arrivals[:, :, [6, 7]].sum(axis=2))]
    c = settings.false_alarm_cost
    arm_n = [spread(arrivals[:, :, 0:4].sum(axis=2)), spread(arrivals[:, :, 4:8].sum(axis=2))]
    total, total_sq = np.zeros(shape), np.zeros(shape)
    arm_m2 = [np.zeros(shape), np.zeros(shape)]
    for arm, (base, weight) in enumerate(((0, -1.0 / (1 - share)), (4, 1.0 / share))):
        alarms = arrivals[:, :, base + 1]
        total += spread(weight * c * alarms)
        arm_m2[arm] += spread(c * c * alarms)
        k = arrivals[:, :, base + 3, :]
        index = np.repeat(flat.ravel(), k.ravel())
        amount = rng.exponential(FRAUD_AMOUNT_MEAN, index.size)
        total += weight * np.bincount(index, weights=amount, minlength=size).reshape(shape)
        arm_m2[arm] += np.bincount(index, weights=amount * amount, minlength=size).reshape(shape)
        total_sq += weight * weight * arm_m2[arm]
    for array in (n, *frauds, total, total_sq, *arm_n, *arm_m2):
        np.cumsum(array, axis=1, out=array)
        np.cumsum(array, axis=2, out=array)
    codes = np.zeros((experiments, days), dtype=np.int8)
    for t in range(1, days + 1):
        last_cohort = t - horizon - 1
        if last_cohort < 0:
            looked, variance = (np.zeros(experiments),) * 4, np.full(experiments, np.inf)
        else:
            at = (slice(None), last_cohort, t - 1)
            looked = (n[at], total[at], total_sq[at], np.minimum(frauds[0][at], frauds[1][at]))
            variance = ipw_variance(arm_n[0][at], arm_m2[0][at], arm_n[1][at], arm_m2[1][at],
                                    share)
        codes[:, t - 1] = decide(*looked, t, settings, variance=variance)[0]
    return first_outcome(codes)


def run_live(experiments: int, seeds, settings, share: float, scenarios: dict,
             rows_per_day: int, truth_rows: int = TRUTH_ROWS) -> dict:
    """run_scenarios for the live phase at `share`."""
    offsets = offset_probabilities(settings.max_days, np.random.default_rng(TRUTH_SEED + 1))
    results = {}
    for name, sd in scenarios.items():
        champion, challenger = arm_probabilities(sd, symmetric=(sd == CHAMPION_SD),
                                                 rows=truth_rows)
        runs = {seed: simulate_live(champion, challenger, share, experiments, settings,
                                    np.random.default_rng(seed + LIVE_SEED_OFFSET), offsets,
                                    rows_per_day) for seed in seeds}
        results[name] = {"challenger_sd": sd, "share": share, "rows_per_day": rows_per_day,
                         "true_difference": live_difference(champion, challenger,
                                                            settings.false_alarm_cost),
                         **outcome_rates(runs)}
    return results


def outcome_rates(runs: dict) -> dict:
    """{seed: (outcome codes, decision days)} -> each final outcome's rate with its 95 % Wilson
    interval, spread across seeds and median decision day; the experiments counted."""
    per_seed = {seed: {o: float(np.mean(code == i)) for i, o in
                       enumerate(("continue", "promote", "reject", "inconclusive"))}
                for seed, (code, _) in runs.items()}
    code = np.concatenate([c for c, _ in runs.values()])
    day = np.concatenate([d for _, d in runs.values()])
    total = int(code.size)
    summary = {"experiments": total, "per_seed": per_seed}
    for i, outcome in ((1, "promote"), (2, "reject"), (3, "inconclusive")):
        hits = int((code == i).sum())
        summary[outcome] = {"rate": hits / total, "wilson95": wilson(hits, total),
                            "seed_min": min(s[outcome] for s in per_seed.values()),
                            "seed_max": max(s[outcome] for s in per_seed.values()),
                            "median_day": float(np.median(day[code == i])) if hits else None}
    return summary


def first_outcome(codes):
    """(outcome code, day) of each experiment: its first final look."""
    decided = codes != 0
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), codes.shape[1] - 1)
    return codes[np.arange(codes.shape[0]), first], first + 1


def naive_decide(n, total, total_sq, frauds, elapsed_days, settings):
    """The reference: a fixed-sample two-sided normal interval (1.96 sd / sqrt(n)) read at every
    look, as a dashboard that is checked daily would be; same outcomes otherwise."""
    from pipeline_src.verdict import moments

    mean, variance = moments(n, total, total_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.where(np.asarray(n) >= 2, 1.96 * np.sqrt(variance / np.asarray(n)), np.inf)
    enough = np.asarray(frauds) >= settings.min_labelled_frauds
    codes = np.where(enough & (mean + width < 0), 1, 0)
    codes = np.where(enough & (codes == 0) & (mean - width > -settings.margin), 2, codes)
    return np.where((codes == 0) & (elapsed_days >= settings.max_days), 3, codes)


def run_scenarios(experiments: int, seeds, settings, truth_rows: int = TRUTH_ROWS) -> dict:
    offsets = offset_probabilities(settings.max_days, np.random.default_rng(TRUTH_SEED + 1))
    results = {}
    for name, sd in SCENARIOS.items():
        p = category_probabilities(sd, symmetric=(sd == CHAMPION_SD), rows=truth_rows)
        runs, naive = {}, []
        for seed in seeds:
            runs[seed], naive_code = simulate(p, experiments, settings,
                                              np.random.default_rng(seed), offsets)
            naive.append(naive_code)
        summary = {"challenger_sd": sd, "true_difference": true_difference(
            p, settings.false_alarm_cost), **outcome_rates(runs)}
        naive_code = np.concatenate(naive)
        summary["naive_daily_peeking"] = {
            outcome: float(np.mean(naive_code == i)) for i, outcome in
            ((1, "promote"), (2, "reject"), (3, "inconclusive"))}
        results[name] = summary
    return results


# --- end to end: real capture files and label files through verdict() -------------------------

def end_to_end(experiments: int, seed: int = 1) -> dict:
    """Small experiments written as SageMaker capture files; verdict() must count what the
    array path counts (pairs, labelled frauds, sum of D) at every look."""
    from datetime import datetime, timedelta, timezone

    from pipeline_src import capture
    from pipeline_src.contract import csv_text, example_rows, feature_names
    from pipeline_src.jobs.monitor_settings import ExperimentRule
    from pipeline_src.monitoring import read_labels
    from pipeline_src.verdict import verdict

    settings = ExperimentRule(label_horizon_days=3, max_days=10, min_labelled_frauds=1,
                              planned_labelled_rows=500)
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    amount_column = feature_names().index("amount")
    checked = 0
    for e in range(experiments):
        rows_per_day = 40
        total_rows = rows_per_day * settings.max_days
        fraud, champion, challenger, amount = transactions(total_rows, SCENARIOS["better"], rng)
        # Enough frauds and disagreements to count something in a small run.
        fraud = fraud | (rng.random(total_rows) < 0.1)
        challenger = challenger ^ (rng.random(total_rows) < 0.1)
        amount = np.round(amount, 2)
        when = [start + timedelta(days=i // rows_per_day, seconds=int(rng.integers(0, 86400)))
                for i in range(total_rows)]
        labelled = rng.random(total_rows) < LABELLED
        arrival = [w + timedelta(days=float(rng.exponential(2.0))) for w in when]
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "endpoint"
            base = example_rows(1)[0]
            for variant, flags in (("AllTraffic", champion), ("Challenger", challenger)):
                lines: dict = {}
                for i in range(total_rows):
                    row = list(base)
                    row[amount_column] = float(amount[i])
                    body = csv_text([row])
                    output = json.dumps({"predictions": [
                        {"probability": 0.9 if flags[i] else 0.1, "label": int(flags[i])}]})
                    hour = when[i].replace(minute=0, second=0)
                    lines.setdefault(hour, []).append(capture.record_line(
                        body, "text/csv", output, when[i], f"event-{variant}-{i}", f"req-{e}-{i}"))
                for hour, chunk in lines.items():
                    path = root / capture.hour_prefix("endpoint", variant, hour) / "00-00-000-x.jsonl"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("\n".join(chunk) + "\n", encoding="utf-8")
            a = capture.read_directory(root / "endpoint" / "AllTraffic").frame()
            b = capture.read_directory(root / "endpoint" / "Challenger").frame()
            for t in (4, 6, 10):
                as_of = start + timedelta(days=t)
                known = [i for i in range(total_rows) if labelled[i] and arrival[i] <= as_of]
                labels_csv = Path(folder) / f"labels-{t}.csv"
                labels_csv.write_text("inference_id,is_fraud\n" + "".join(
                    f"req-{e}-{i},{int(fraud[i])}\n" for i in known), encoding="utf-8")
                result = verdict(a, b, read_labels(labels_csv), start=start, as_of=as_of,
                                 rule=settings)
                cutoff = as_of - timedelta(days=settings.label_horizon_days)
                counted = np.array([i for i in known if when[i] <= cutoff], dtype=int)
                y = fraud[counted]
                cost = [np.where(y & ~f[counted], amount[counted], 0.0)
                        + np.where(~y & f[counted], settings.false_alarm_cost, 0.0)
                        for f in (champion, challenger)]
                d = cost[1] - cost[0]
                assert result["labelled_pairs"] == counted.size, (result["counts"], counted.size)
                assert result["labelled_frauds"] == int(y.sum())
                if counted.size:
                    assert math.isclose(result["cost_difference_per_transaction"], d.mean(),
                                        rel_tol=1e-9, abs_tol=1e-12)
                checked += 1
    return {"experiments": experiments, "looks_checked": checked}


def print_table(results: dict) -> None:
    print(f"{'scenario':<13} {'true diff/txn':>13} {'promote [95% CI]':>22} "
          f"{'reject [95% CI]':>22} {'inconcl.':>8}  {'per-seed promote':>17} "
          f"{'per-seed reject':>15} {'median day':>10}")
    for name, r in results.items():
        pr, rj, ic = r["promote"], r["reject"], r["inconclusive"]
        median = pr["median_day"] if name.startswith("better") else rj["median_day"]
        print(f"{name:<13} {r['true_difference']:>+13.4f} "
              f"{pr['rate']:>7.3f} [{pr['wilson95'][0]:.3f}, {pr['wilson95'][1]:.3f}] "
              f"{rj['rate']:>7.3f} [{rj['wilson95'][0]:.3f}, {rj['wilson95'][1]:.3f}] "
              f"{ic['rate']:>8.3f}  {pr['seed_min']:>7.3f}-{pr['seed_max']:.3f} "
              f"{rj['seed_min']:>7.3f}-{rj['seed_max']:.3f} "
              f"{median if median is not None else '-':>10}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=2000,
                        help="experiments per scenario, split across the seeds")
    parser.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)))
    parser.add_argument("--end-to-end", type=int, default=2, dest="end_to_end")
    parser.add_argument("--truth-rows", type=int, default=TRUTH_ROWS, dest="truth_rows",
                        help="transactions the true differences are computed from")
    parser.add_argument("--live-share", type=float, default=LIVE_SHARE, dest="live_share")
    parser.add_argument("--live-rows", type=int, default=LIVE_ROWS_PER_DAY, dest="live_rows",
                        help="transactions a day in the live phase")
    parser.add_argument("--quick", action="store_true", help="200 experiments, 1 end-to-end")
    parser.add_argument("--output", type=Path,
                        default=ROOT / "bench" / "results" / "bench_experiments.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.experiments, args.end_to_end = 200, 1
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    settings = rule()
    started = time.perf_counter()
    e2e = end_to_end(args.end_to_end) if args.end_to_end else None
    per_seed = max(1, args.experiments // len(seeds))
    results = run_scenarios(per_seed, seeds, settings, args.truth_rows)
    live = run_live(per_seed, seeds, settings, args.live_share, SCENARIOS, args.live_rows,
                    args.truth_rows)
    live_low = run_live(per_seed, seeds, settings, args.live_share,
                        {k: SCENARIOS[k] for k in ("same", "better", "worse")}, ROWS_PER_DAY,
                        args.truth_rows)
    elapsed = time.perf_counter() - started
    print(f"settings: alpha {settings.alpha}, margin {settings.margin}, horizon "
          f"{settings.label_horizon_days} d, max {settings.max_days} d, min labelled frauds "
          f"{settings.min_labelled_frauds}, planned rows {settings.planned_labelled_rows}; "
          f"{ROWS_PER_DAY} transactions/day, seeds {seeds} x {per_seed} experiments")
    print_table(results)
    same = results["same"]["naive_daily_peeking"]["promote"]
    print(f"reference, a fixed-sample 95 % interval read every day: promotes {same:.3f} of the "
          f"'same' challengers (this rule: {results['same']['promote']['rate']:.3f}), "
          f"{results['better']['naive_daily_peeking']['promote']:.3f} of the 'better' ones")
    print(f"live phase (unpaired): share {args.live_share}, {args.live_rows} transactions/day "
          "(the same rule; max_days counted from the live start)")
    print_table(live)
    low = {k: (v["promote"]["rate"], v["reject"]["rate"]) for k, v in live_low.items()}
    print(f"live phase at {ROWS_PER_DAY} transactions/day: promote/reject " + ", ".join(
        f"{k} {p:.3f}/{r:.3f}" for k, (p, r) in low.items()))
    if e2e:
        print(f"end to end: {e2e['looks_checked']} looks of {e2e['experiments']} experiment(s) "
              "from capture files matched the array path")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"settings": settings.model_dump(), "seeds": seeds,
                                       "truth_rows": args.truth_rows,
                                       "experiments_per_seed": per_seed, "scenarios": results,
                                       "live": live, "live_at_shadow_traffic": live_low,
                                       "end_to_end": e2e, "seconds": round(elapsed, 1)},
                                      indent=2, sort_keys=True, default=str) + "\n")
    simulated = sum(r["experiments"] for r in results.values())
    print(f"live: false_promotion_rate={live['same']['promote']['rate']:.4f} "
          f"power={live['better']['promote']['rate']:.4f} "
          f"worse_rejected={live['worse']['reject']['rate']:.4f} alpha={settings.alpha} "
          f"simulated={sum(r['experiments'] for r in live.values())} share={args.live_share} "
          f"rows_per_day={args.live_rows}")
    print(f"experiments: false_promotion_rate={results['same']['promote']['rate']:.4f} "
          f"power={results['better']['promote']['rate']:.4f} "
          f"worse_rejected={results['worse']['reject']['rate']:.4f} alpha={settings.alpha} "
          f"simulated={simulated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
