"""Champion vs challenger: the verdict on the business cost per transaction, from delayed labels.

Shadow phase, paired: both variants score the same requests (the challenger as the endpoint
config's shadow variant), each variant's data capture lands under ``<endpoint>/<variant>/``
(the variant is only in the path), and a request is paired across the two by the caller's
InferenceId and the row within the request. For each labelled pair

    D = cost(challenger) - cost(champion),
    cost = missed_fraud_cost (the amount, or a fixed number)   if a fraud was not flagged
         + false_alarm_cost                                    if a legitimate one was flagged

at each model's own threshold (its captured decision). A pair counts only when its transaction
is older than the label horizon and its label has arrived; a missing label is unknown, never
"legitimate". The mean of D gets an anytime-valid (time-uniform) confidence sequence, so the
scheduled controller may look after every window without inflating the error rate:

    Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2021), "Time-uniform central limit theory and
    asymptotic confidence sequences", arXiv:2103.06476, Theorem 2.2 (the asymptotic CS from
    Robbins' normal mixture; Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform,
    nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2), eq. (14)), with the
    mixture tuned to be tightest at a planned sample size as given there:

        mean(D) +/- sd(D) * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) ),
        rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / n_planned.

With probability >= 1 - alpha the sequence holds the true mean at every n at once (asymptotically:
bench/bench_experiments.py measures the error rates on the real loop, delays and peeking included).
Outcomes, each final: promote when the upper bound is below 0 (the challenger is cheaper);
reject when the lower bound is above -margin (it is dearer, or cannot save more than the margin);
inconclusive at the maximum duration (the champion stays). Nothing promotes by default: too few
labels, no pairs, or an unreadable input keep the champion.

Live phase, unpaired (lambda_deploy/experiment.py: after a shadow win, when the stage turns it
on, the challenger serves a small share s of the requests as a second production variant). Each
request is served by one variant, chosen at random by the endpoint's variant weights, so there
are no pairs; the record's variant is its capture folder. Each labelled record gives the
inverse-propensity-weighted pseudo-outcome

    Z = cost * ( [challenger served] / s  -  [champion served] / (1 - s) ),

whose mean is E[cost(challenger)] - E[cost(champion)] per transaction for any s known by
design (Horvitz & Thompson 1952). The Z are i.i.d., so the same asymptotic confidence sequence
applies to their mean: Waudby-Smith et al. (2021), arXiv:2103.06476, Section 3 ("asymptotic
confidence sequences for the average treatment effect" in randomized experiments, with the
inverse-propensity-weighted / doubly robust pseudo-outcomes and known propensity). Same costs,
same boundary, margin, minimum labelled frauds (in each variant) and maximum duration (counted
from the start of the live phase); recall and precision per variant at its own threshold. It
needs far more data than the paired shadow comparison (bench/bench_experiments.py measures it).

No library pinned here implements a confidence sequence (statsmodels and scipy give fixed-n
tests and group-sequential spending only through their power tools); the boundary is the closed
form above, in numpy, vectorised so the benchmark runs thousands of experiments through it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from pipeline_src.capture import EVENT_TIME, INFERENCE_ID, PREDICTED_LABEL, PROBABILITY, ROW

PROMOTE, REJECT, INCONCLUSIVE, CONTINUE = "promote", "reject", "inconclusive", "continue"
FINAL = (PROMOTE, REJECT, INCONCLUSIVE)
# Codes of the vectorised decide(); index into OUTCOMES.
OUTCOMES = (CONTINUE, PROMOTE, REJECT, INCONCLUSIVE)


def rho_squared(alpha: float, planned: float) -> float:
    """The normal mixture's precision that makes the boundary tightest at `planned` samples
    (Waudby-Smith et al. 2021, arXiv:2103.06476), in units of the variance."""
    log_term = -2.0 * math.log(alpha)
    return (log_term + math.log(log_term + 1.0)) / planned


def halfwidth(n, variance, alpha: float, planned: float):
    """Half-width of the two-sided (1 - alpha) asymptotic confidence sequence after n samples
    of variance `variance` (arrays broadcast); inf where n < 2."""
    n = np.asarray(n, dtype=float)
    variance = np.asarray(variance, dtype=float)
    rho2 = rho_squared(alpha, planned)
    with np.errstate(divide="ignore", invalid="ignore"):
        nr = n * rho2
        width = np.sqrt(np.maximum(variance, 0.0)) * np.sqrt(
            2.0 * (nr + 1.0) / (n * n * rho2) * np.log(np.sqrt(nr + 1.0) / alpha))
    return np.where(n >= 2, width, np.inf)


def moments(n, total, total_sq):
    """Mean and (unbiased) variance from the running sums (arrays broadcast)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, np.asarray(total) / n, 0.0)
        variance = np.where(n > 1, (np.asarray(total_sq) - n * mean * mean) / (n - 1), np.inf)
    return mean, np.maximum(variance, 0.0)


def decide(n, total, total_sq, frauds, elapsed_days, rule, variance=None):
    """Vectorised verdict: (codes into OUTCOMES, lower, upper) for running sums of D.

    `rule` is the stage's ExperimentRule (pipeline_src/jobs/monitor_settings.py): alpha, margin,
    min_labelled_frauds, planned_labelled_rows, max_days. Promotion needs enough labelled
    frauds and the whole interval below zero; the maximum duration without a verdict is
    inconclusive. `variance`: the live phase's conservative variance (ipw_variance) instead of
    the sample variance."""
    mean, sample_variance = moments(n, total, total_sq)
    variance = sample_variance if variance is None else variance
    width = halfwidth(n, variance, rule.alpha, rule.planned_labelled_rows)
    lower, upper = mean - width, mean + width
    enough = np.asarray(frauds) >= rule.min_labelled_frauds
    codes = np.zeros(np.broadcast(mean, enough).shape, dtype=np.int8)
    codes = np.where(enough & (upper < 0.0), 1, codes)
    codes = np.where(enough & (codes == 0) & (lower > -rule.margin), 2, codes)
    codes = np.where((codes == 0) & (np.asarray(elapsed_days) >= rule.max_days), 3, codes)
    return codes, lower, upper


# --- from captures and labels ---------------------------------------------------------------------

class VerdictInputError(ValueError):
    """Inputs the verdict cannot use (one line; the local command exits 2)."""


def parse_time(text):
    """A capture's inferenceTime (ISO 8601, Z) as an aware datetime; None when unreadable."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _unique(frame, name: str):
    """Rows with an inference id, one per (inference_id, row): a request captured twice (a
    client retry with the same InferenceId) counts once, as first captured."""
    has_id = frame[frame[INFERENCE_ID].notna()]
    unique = has_id.drop_duplicates([INFERENCE_ID, ROW], keep="first")
    return unique, {f"{name}_rows": int(len(frame)),
                    f"{name}_without_inference_id": int(len(frame) - len(has_id)),
                    f"{name}_duplicates": int(len(has_id) - len(unique))}


def cost_of(y, predicted, missed_cost, rule):
    """Business cost per transaction at the model's own decision."""
    y = np.asarray(y, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    return np.where((y == 1) & (predicted == 0), missed_cost, 0.0) + np.where(
        (y == 0) & (predicted == 1), float(rule.false_alarm_cost), 0.0)


def missed_costs(frame, rule):
    """The cost of a missed fraud per row: the configured number, or the row's column."""
    if isinstance(rule.missed_fraud_cost, str):
        column = rule.missed_fraud_cost
        if column not in frame.columns:
            raise VerdictInputError(f"missed_fraud_cost: {column!r} is not a column of the "
                                    "captured requests")
        values = np.asarray(frame[column], dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise VerdictInputError(f"missed_fraud_cost: column {column!r} holds missing or "
                                    "negative values")
        return values
    return np.full(len(frame), float(rule.missed_fraud_cost))


def paired(champion, challenger, labels, *, start: datetime, as_of: datetime, rule):
    """Labelled pairs that count now, and the counts of everything left out (with why).

    champion/challenger: CaptureRows.frame() of each variant; labels: read_labels() frame.
    A pair's cohort time is the champion's inferenceTime; it counts when it is at or after
    `start` and at least label_horizon_days before `as_of`, and its label is known."""
    from pipeline_src.contract import label_name

    label = label_name()
    a, counts = _unique(champion, "champion")
    b, more = _unique(challenger, "challenger")
    counts.update(more)
    keys = [INFERENCE_ID, ROW]
    joined = a.merge(b[keys + [PROBABILITY, PREDICTED_LABEL]], on=keys, how="inner",
                     suffixes=("", "_challenger"))
    counts["pairs"] = int(len(joined))
    counts["champion_unpaired"] = int(len(a) - len(joined))
    counts["challenger_unpaired"] = int(len(b) - len(joined))
    times = joined[EVENT_TIME].map(parse_time)
    unknown_time = times.isna()
    counts["pairs_without_time"] = int(unknown_time.sum())
    cutoff = as_of - timedelta(days=rule.label_horizon_days)
    known = times[~unknown_time]
    counts["pairs_before_start"] = int((known < start).sum())
    counts["pairs_within_horizon"] = int((known > cutoff).sum())
    old_enough = (~unknown_time) & times.map(
        lambda t: t is not None and start <= t <= cutoff).astype(bool)
    cohort = joined[old_enough.to_numpy()]
    counted = cohort.merge(labels, on=keys, how="inner")
    counts["pairs_old_enough"] = int(len(cohort))
    # Unknown, not legitimate: an old-enough pair without a label is left out and counted.
    counts["pairs_unlabelled"] = int(len(cohort) - len(counted))
    y = counted[label].to_numpy()
    missed = missed_costs(counted, rule)
    champion_cost = cost_of(y, counted[PREDICTED_LABEL], missed, rule)
    challenger_cost = cost_of(y, counted[f"{PREDICTED_LABEL}_challenger"], missed, rule)
    return counted.assign(champion_cost=champion_cost, challenger_cost=challenger_cost,
                          difference=challenger_cost - champion_cost), counts


def _rates(y, predicted) -> dict:
    y, predicted = np.asarray(y, dtype=int), np.asarray(predicted, dtype=int)
    caught = int(((y == 1) & (predicted == 1)).sum())
    flagged = int((predicted == 1).sum())
    frauds = int((y == 1).sum())
    return {"recall": caught / frauds if frauds else None,
            "precision": caught / flagged if flagged else None}


def verdict(champion, challenger, labels, *, start: datetime, as_of: datetime, rule) -> dict:
    """The experiment's verdict now, with sample sizes, interval and per-variant metrics."""
    from pipeline_src.contract import label_name

    counted, counts = paired(champion, challenger, labels, start=start, as_of=as_of, rule=rule)
    d = counted["difference"].to_numpy(dtype=float)
    y = counted[label_name()].to_numpy()
    n, frauds = int(len(d)), int(y.sum())
    elapsed = (as_of - start).total_seconds() / 86400.0
    code, lower, upper = decide(n, float(d.sum()), float((d * d).sum()), frauds, elapsed, rule)
    outcome = OUTCOMES[int(code)]
    mean = float(d.mean()) if n else None
    finite = bool(np.isfinite(lower)) and bool(np.isfinite(upper))
    summary = {
        "outcome": outcome, "labelled_pairs": n, "labelled_frauds": frauds,
        "elapsed_days": round(elapsed, 3), "max_days": rule.max_days,
        "cost_difference_per_transaction": mean,
        "interval": [float(lower), float(upper)] if finite else None,
        "alpha": rule.alpha, "margin": rule.margin,
        "min_labelled_frauds": rule.min_labelled_frauds,
        "label_horizon_days": rule.label_horizon_days,
        "champion": {"cost_per_transaction": float(counted["champion_cost"].mean()) if n else None,
                     **_rates(y, counted[PREDICTED_LABEL])},
        "challenger": {"cost_per_transaction": float(counted["challenger_cost"].mean())
                       if n else None,
                       **_rates(y, counted[f"{PREDICTED_LABEL}_challenger"])},
        "counts": counts,
    }
    summary["reason"] = reason(summary, rule)
    return summary


def reason(summary: dict, rule) -> str:
    """One sentence saying why the outcome is what it is (a live verdict's begins "live: ")."""
    outcome, interval = summary["outcome"], summary["interval"]
    shown = (f"[{interval[0]:+.4f}, {interval[1]:+.4f}]" if interval else "undefined")
    live = summary.get("phase") == "live"
    phase = "live: " if live else ""
    if outcome == PROMOTE:
        sample = (f"{summary['labelled_rows']} labelled requests, share {summary['share']}"
                  if live else f"{summary['labelled_pairs']} labelled pairs, "
                  f"{summary['labelled_frauds']} frauds")
        return (f"{phase}the challenger costs less per transaction: interval {shown} lies below "
                f"0 ({sample})")
    if outcome == REJECT:
        return (f"{phase}the challenger cannot save more than the margin {rule.margin}: "
                f"interval {shown} lies above {-rule.margin}")
    if summary["labelled_frauds"] < rule.min_labelled_frauds:
        why = (f"live: {summary['labelled_frauds']} labelled fraud(s) in the variant with fewer; "
               f"{rule.min_labelled_frauds} are needed in each" if live else
               f"{summary['labelled_frauds']} labelled fraud(s) among {summary['labelled_pairs']} "
               f"pairs; {rule.min_labelled_frauds} are needed")
    else:
        why = f"{phase}interval {shown} still holds 0 and savings above the margin"
    if outcome == INCONCLUSIVE:
        return f"maximum duration {rule.max_days} days reached: {why}; the champion stays"
    return why


# --- the live phase: unpaired -------------------------------------------------------------------

def ipw_terms(cost, challenger_served, share: float):
    """The inverse-propensity-weighted pseudo-outcome of each record (mean: the cost difference
    per transaction, challenger minus champion)."""
    served = np.asarray(challenger_served, dtype=bool)
    cost = np.asarray(cost, dtype=float)
    return np.where(served, cost / share, -cost / (1.0 - share))


def ipw_variance(n_champion, m2_champion, n_challenger, m2_challenger, share: float):
    """A variance for the pseudo-outcomes that is at least theirs in the limit:
    max(E[cost^2] of the two variants) / (share (1 - share)) >= E_b[cost^2]/s + E_a[cost^2]/(1-s)
    - difference^2 = Var(Z). The plain sample variance of Z is dominated by the small
    variant's rare large costs: while it has seen few of them, its mean and its variance are both
    low together, and the sequence promoted an equal challenger at about alpha at a 10 % share
    (bench/bench_experiments.py, development seeds); the larger variant's second moment breaks
    that link. Arrays broadcast; inf until both variants have two records."""
    n_a, n_b = np.asarray(n_champion, dtype=float), np.asarray(n_challenger, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = np.maximum(np.where(n_a > 0, np.asarray(m2_champion) / n_a, 0.0),
                        np.where(n_b > 0, np.asarray(m2_challenger) / n_b, 0.0))
    return np.where((n_a >= 2) & (n_b >= 2), m2 / (share * (1.0 - share)), np.inf)


def unpaired(champion, challenger, labels, *, start: datetime, as_of: datetime, rule):
    """Each variant's labelled records that count now (its own inferenceTime at or after `start`
    and older than the horizon, its label known), and the counts of everything left out. A
    request (inference id and row) captured by both variants is left out and counted: in the
    live phase one variant serves each request."""
    from pipeline_src.contract import label_name

    label = label_name()
    keys = [INFERENCE_ID, ROW]
    a, counts = _unique(champion, "champion")
    b, more = _unique(challenger, "challenger")
    counts.update(more)
    both = a[keys].merge(b[keys], on=keys, how="inner")
    counts["served_by_both"] = int(len(both))
    sides = []
    cutoff = as_of - timedelta(days=rule.label_horizon_days)
    for name, frame in (("champion", a), ("challenger", b)):
        if len(both):
            marked = frame.merge(both.assign(_both=True), on=keys, how="left")
            frame = frame[marked["_both"].isna().to_numpy()]
        times = frame[EVENT_TIME].map(parse_time)
        unknown = times.isna()
        known = times[~unknown]
        counts[f"{name}_without_time"] = int(unknown.sum())
        counts[f"{name}_before_start"] = int((known < start).sum())
        counts[f"{name}_within_horizon"] = int((known > cutoff).sum())
        old_enough = (~unknown) & times.map(
            lambda t: t is not None and start <= t <= cutoff).astype(bool)
        cohort = frame[old_enough.to_numpy()]
        counted = cohort.merge(labels, on=keys, how="inner")
        counts[f"{name}_old_enough"] = int(len(cohort))
        # Unknown, not legitimate: an old-enough record without a label is left out.
        counts[f"{name}_unlabelled"] = int(len(cohort) - len(counted))
        y = counted[label].to_numpy()
        cost = cost_of(y, counted[PREDICTED_LABEL], missed_costs(counted, rule), rule)
        sides.append(counted.assign(cost=cost, challenger_served=(name == "challenger")))
    return sides[0], sides[1], counts


def live_verdict(champion, challenger, labels, *, start: datetime, as_of: datetime,
                 share: float, rule) -> dict:
    """The live phase's verdict now: the confidence sequence on the pseudo-outcomes' mean, with
    sample sizes and each variant's cost per transaction, recall and precision. `start` is when
    the challenger's weight took effect, `share` its share of the traffic (0 < share < 1)."""
    from pipeline_src.contract import label_name

    if not 0.0 < share < 1.0:
        raise VerdictInputError(f"live share {share!r} is not between 0 and 1")
    a, b, counts = unpaired(champion, challenger, labels, start=start, as_of=as_of, rule=rule)
    label = label_name()
    z = np.concatenate([ipw_terms(a["cost"], False, share), ipw_terms(b["cost"], True, share)])
    frauds = {name: int(side[label].sum()) for name, side in (("champion", a), ("challenger", b))}
    n = int(z.size)
    elapsed = (as_of - start).total_seconds() / 86400.0
    ca, cb = a["cost"].to_numpy(dtype=float), b["cost"].to_numpy(dtype=float)
    variance = ipw_variance(len(ca), float((ca * ca).sum()), len(cb), float((cb * cb).sum()),
                            share)
    code, lower, upper = decide(n, float(z.sum()), float((z * z).sum()), min(frauds.values()),
                                elapsed, rule, variance=variance)
    finite = bool(np.isfinite(lower)) and bool(np.isfinite(upper))

    def side(frame) -> dict:
        return {"labelled": int(len(frame)), "labelled_frauds": int(frame[label].sum()),
                "cost_per_transaction": float(frame["cost"].mean()) if len(frame) else None,
                **_rates(frame[label], frame[PREDICTED_LABEL])}

    summary = {
        "outcome": OUTCOMES[int(code)], "phase": "live", "share": share,
        "labelled_rows": n, "labelled_frauds": min(frauds.values()),
        "elapsed_days": round(elapsed, 3), "max_days": rule.max_days,
        "cost_difference_per_transaction": float(z.mean()) if n else None,
        "interval": [float(lower), float(upper)] if finite else None,
        "alpha": rule.alpha, "margin": rule.margin,
        "min_labelled_frauds": rule.min_labelled_frauds,
        "label_horizon_days": rule.label_horizon_days,
        "champion": side(a), "challenger": side(b), "counts": counts,
    }
    summary["reason"] = reason(summary, rule)
    return summary
