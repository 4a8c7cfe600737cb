"""The champion vs challenger verdict: per-variant attribution from the capture layout, pairing by
inference id, delayed labels (unknown is not negative), the label horizon, and the rule's
outcomes. Capture lines are written as AWS documents them (pipeline_src/capture.py cites the
page); the error rates of the rule are measured by bench/bench_experiments.py, not here."""
from __future__ import annotations

import importlib.util
import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from pipeline_src.jobs.monitor_settings import ExperimentRule
from pipeline_src import capture
from pipeline_src.contract import csv_text, example_rows, feature_names
from pipeline_src.monitoring import read_labels
from pipeline_src.verdict import (INCONCLUSIVE, OUTCOMES, PROMOTE, REJECT, decide, halfwidth,
                                  ipw_variance, live_verdict, verdict)

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
ENDPOINT = "fraud-mlops-prod-prod"
AMOUNT = feature_names().index("amount")


def body(amounts) -> str:
    rows = []
    for amount in amounts:
        row = list(example_rows(1)[0])
        row[AMOUNT] = float(amount)
        rows.append(row)
    return csv_text(rows)


def output(labels) -> str:
    return json.dumps({"predictions": [{"probability": 0.9 if v else 0.1, "label": v}
                                       for v in labels]})


def write(root: Path, variant: str, records) -> None:
    """records: (inference id or None, when, amounts, decisions); one file per record."""
    for n, (inference_id, when, amounts, decisions) in enumerate(records):
        path = root / capture.hour_prefix(ENDPOINT, variant, when) / f"00-00-{n:03d}-x.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(capture.record_line(body(amounts), "text/csv", output(decisions), when,
                                            f"{variant}-{n}", inference_id) + "\n")


def frames(root: Path):
    return (capture.read_directory(root / ENDPOINT / "AllTraffic").frame(),
            capture.read_directory(root / ENDPOINT / "Challenger").frame())


def labels_file(tmp_path: Path, rows) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("inference_id,row,is_fraud\n" + "".join(f"{i},{r},{y}\n" for i, r, y in rows))
    return path


@pytest.fixture
def experiment(tmp_path):
    """Day 1: r1 (2 rows), r2, r3 (champion captured twice: a client retry), r4 (champion only),
    one record without an inference id; day 20: r5 (younger than the 14-day horizon at day 25)."""
    day1, day20 = START + timedelta(days=1, hours=3), START + timedelta(days=20)
    write(tmp_path, "AllTraffic", [
        ("r1", day1, [100.0, 40.0], [0, 1]), ("r2", day1, [30.0], [1]),
        ("r3", day1, [70.0], [0]), ("r3", day1, [70.0], [0]), ("r4", day1, [10.0], [0]),
        (None, day1, [10.0], [0]), ("r5", day20, [500.0], [0])])
    write(tmp_path, "Challenger", [
        ("r1", day1 + timedelta(seconds=1), [100.0, 40.0], [1, 1]),
        ("r2", day1, [30.0], [0]), ("r3", day1, [70.0], [1]), ("r5", day20, [500.0], [1])])
    labels = labels_file(tmp_path, [("r1", 1, 1), ("r1", 2, 0), ("r2", 1, 0), ("r4", 1, 1),
                                    ("r5", 1, 1)])  # r3 has no label yet
    return frames(tmp_path) + (read_labels(labels),)


def test_pairs_by_inference_id_per_variant_and_counts_only_old_labelled_ones(experiment):
    champion, challenger, labels = experiment
    rule = ExperimentRule(false_alarm_cost=5.0, min_labelled_frauds=1)
    result = verdict(champion, challenger, labels, start=START,
                     as_of=START + timedelta(days=25), rule=rule)
    counts = result["counts"]
    # Attribution: the variant comes from the folder; the retry of r3 counts once.
    assert counts["champion_duplicates"] == 1 and counts["champion_without_inference_id"] == 1
    assert counts["pairs"] == 5 and counts["champion_unpaired"] == 1  # r4
    assert counts["pairs_within_horizon"] == 1  # r5: day 20 is younger than 14 days at day 25
    assert counts["pairs_unlabelled"] == 1  # r3: unknown, left out (not counted as legitimate)
    # r1 row 1: fraud of 100 the champion missed and the challenger caught -> -100;
    # r1 row 2: legitimate, both flagged -> 0; r2: legitimate, only the champion flagged -> -5.
    assert result["labelled_pairs"] == 3 and result["labelled_frauds"] == 1
    assert result["cost_difference_per_transaction"] == pytest.approx(-105 / 3)
    assert result["champion"]["cost_per_transaction"] == pytest.approx((100 + 5 + 5) / 3)
    assert result["challenger"]["recall"] == 1.0 and result["champion"]["recall"] == 0.0
    # Three pairs cannot support a verdict: the interval is wide, nothing is promoted.
    assert result["outcome"] == "continue"
    assert result["interval"][0] < result["cost_difference_per_transaction"] < 0 \
        < result["interval"][1]


def test_too_few_labels_is_inconclusive_at_the_maximum_duration_and_keeps_the_champion(
        experiment):
    champion, challenger, labels = experiment
    rule = ExperimentRule(min_labelled_frauds=30, max_days=30)
    early = verdict(champion, challenger, labels, start=START, as_of=START + timedelta(days=25),
                    rule=rule)
    assert early["outcome"] == "continue"
    assert "1 labelled fraud(s) among 3 pairs; 30 are needed" in early["reason"]
    late = verdict(champion, challenger, labels, start=START, as_of=START + timedelta(days=31),
                   rule=rule)
    assert late["outcome"] == INCONCLUSIVE and "the champion stays" in late["reason"]


def test_no_labels_at_all_never_promotes(experiment, tmp_path):
    champion, challenger, _ = experiment
    empty = read_labels(labels_file(tmp_path, [("zz", 1, 0)]))
    result = verdict(champion, challenger, empty, start=START,
                     as_of=START + timedelta(days=90), rule=ExperimentRule(min_labelled_frauds=1))
    assert result["labelled_pairs"] == 0 and result["outcome"] == INCONCLUSIVE
    assert result["interval"] is None


def test_decide_promotes_rejects_or_waits_on_the_interval():
    rule = ExperimentRule(margin=0.5, min_labelled_frauds=10, max_days=60)
    n = np.array([50_000.0] * 4)
    mean = np.array([-1.0, 1.0, -0.05, -0.05])
    sd = 10.0
    total, total_sq = mean * n, (sd * sd * (n - 1) + n * mean * mean)
    frauds = np.array([500, 500, 500, 5])
    codes, lower, upper = decide(n, total, total_sq, frauds, 30, rule)
    # Cheaper: the whole interval below 0. Dearer: above -margin. -0.05 with a margin of 0.5:
    # the challenger cannot save more than the margin -> reject. Too few frauds: wait.
    assert [OUTCOMES[c] for c in codes] == [PROMOTE, REJECT, REJECT, "continue"]
    assert upper[0] < 0 < lower[1]
    codes, _, _ = decide(n, total, total_sq, frauds, 60, rule)
    assert OUTCOMES[codes[3]] == INCONCLUSIVE


def test_the_sequence_is_wider_than_a_fixed_sample_interval_and_shrinks():
    """The price of looking every window: at the planned size the anytime-valid half-width is
    wider than the fixed-n normal interval's 1.96 sd / sqrt(n), and it shrinks as n grows."""
    widths = halfwidth(np.array([1_000, 10_000, 100_000, 1_000_000]), 1.0, 0.05, 100_000)
    assert np.all(np.diff(widths) < 0)
    assert widths[2] > 1.96 / math.sqrt(100_000)
    assert widths[2] < 3 * 1.96 / math.sqrt(100_000)
    assert np.isinf(halfwidth(1, 1.0, 0.05, 100))


def test_verdict_local_prints_and_writes_the_verdict(tmp_path, capsys):
    from pipeline_src.verdict_local import main

    day1 = START + timedelta(days=1)
    write(tmp_path / "c", "AllTraffic", [("a", day1, [100.0], [0]), ("b", day1, [10.0], [1])])
    write(tmp_path / "c", "Challenger", [("a", day1, [100.0], [1]), ("b", day1, [10.0], [1])])
    labels = labels_file(tmp_path, [("a", 1, 1)])
    out = tmp_path / "verdict.json"
    code = main(["--capture", str(tmp_path / "c" / ENDPOINT), "--labels", str(labels),
                 "--start", "2026-11-01T00:00:00Z", "--as-of", "2026-12-01T00:00:00Z",
                 "--env", "dev", "--stage", "prod", "--output", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "the contract's defaults (config/dev.json stage prod has no experiment section)" in text
    assert "counted 1 labelled pairs (1 frauds)" in text and "1 without a label" in text
    assert "verdict: continue:" in text
    written = json.loads(out.read_text())
    assert written["challenger_variant"] == "Challenger" and written["labelled_pairs"] == 1


@pytest.fixture
def live(tmp_path):
    """The live phase from day 2: each request served by one variant (r1, r2, r3 champion; r4,
    r5 challenger), r0 before the live start, r6 captured by both (left out), r7 without a label,
    r8 younger than the horizon."""
    day1, day2, day3 = (START + timedelta(days=d, hours=3) for d in (1, 2, 3))
    write(tmp_path, "AllTraffic", [
        ("r0", day1, [900.0], [0]), ("r1", day2, [100.0], [0]), ("r2", day2, [30.0], [1]),
        ("r3", day3, [70.0], [0]), ("r6", day3, [5.0], [0]), ("r7", day3, [5.0], [0]),
        ("r8", START + timedelta(days=20), [500.0], [0])])
    write(tmp_path, "Challenger", [
        ("r4", day2, [200.0], [1]), ("r5", day3, [50.0, 60.0], [1, 0]),
        ("r6", day3, [5.0], [1])])
    labels = labels_file(tmp_path, [(f"r{i}", 1, y) for i, y in
                                    ((0, 1), (1, 1), (2, 0), (3, 0), (4, 1), (5, 0), (6, 1),
                                     (8, 1))] + [("r5", 2, 1)])
    return frames(tmp_path) + (read_labels(labels),)


def test_live_verdict_attributes_each_request_to_the_variant_that_served_it(live):
    champion, challenger, labels = live
    rule = ExperimentRule(min_labelled_frauds=1, false_alarm_cost=5.0)
    share = 0.25
    result = live_verdict(champion, challenger, labels, start=START + timedelta(days=2),
                          as_of=START + timedelta(days=25), share=share, rule=rule)
    counts = result["counts"]
    assert counts["served_by_both"] == 1 and counts["champion_before_start"] == 1
    assert counts["champion_unlabelled"] == 1 and counts["champion_within_horizon"] == 1
    # Champion: r1 (missed fraud 100), r2 (false alarm 5), r3 (0); challenger: r4 caught (0),
    # r5 row 1 false alarm (5), r5 row 2 missed fraud (60).
    assert result["champion"]["labelled"] == 3 and result["challenger"]["labelled"] == 3
    assert result["champion"]["cost_per_transaction"] == pytest.approx(105 / 3)
    assert result["challenger"]["cost_per_transaction"] == pytest.approx(65 / 3)
    assert result["champion"]["recall"] == 0.0 and result["challenger"]["recall"] == 0.5
    z = [-100 / 0.75, -5 / 0.75, 0.0, 0.0, 5 / 0.25, 60 / 0.25]
    assert result["labelled_rows"] == 6 and result["labelled_frauds"] == 1
    assert result["cost_difference_per_transaction"] == pytest.approx(np.mean(z))
    assert result["phase"] == "live" and result["share"] == share
    assert result["outcome"] == "continue"
    late = live_verdict(champion, challenger, labels, start=START + timedelta(days=2),
                        as_of=START + timedelta(days=63), share=share, rule=rule)
    assert late["outcome"] == INCONCLUSIVE and "the champion stays" in late["reason"]


def test_live_verdict_needs_labelled_frauds_in_each_variant(live):
    champion, challenger, labels = live
    result = live_verdict(champion, challenger, labels, start=START + timedelta(days=2),
                          as_of=START + timedelta(days=25), share=0.25,
                          rule=ExperimentRule(min_labelled_frauds=2))
    assert result["outcome"] == "continue" and "fewer; 2 are needed in each" in result["reason"]


def test_verdict_local_takes_the_live_phases_verdict(live, tmp_path, capsys):
    from pipeline_src.verdict_local import main

    out = tmp_path / "live.json"
    code = main(["--capture", str(tmp_path / ENDPOINT), "--labels", str(tmp_path / "labels.csv"),
                 "--start", "2026-11-03T00:00:00Z", "--as-of", "2026-11-26T00:00:00Z",
                 "--env", "dev", "--stage", "prod", "--live-share", "0.25", "--output", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "live phase, challenger share 0.25: counted 6 labelled requests (champion 3, " \
           "challenger 3); served by both (left out) 1" in text
    assert json.loads(out.read_text())["phase"] == "live"


def test_the_live_variance_is_at_least_the_pseudo_outcomes_variance():
    """ipw_variance bounds Var(Z) = E_b[c^2]/s + E_a[c^2]/(1-s) - diff^2 from above, and is
    undefined (inf) until both variants have records."""
    rng = np.random.default_rng(3)
    share = 0.2
    served = rng.random(200_000) < share
    cost = np.where(rng.random(served.size) < 0.004, rng.exponential(150, served.size), 0.0)
    cost = np.where(served, cost * 0.8, cost)
    z = np.where(served, cost / share, -cost / (1 - share))
    bound = ipw_variance((~served).sum(), (cost[~served] ** 2).sum(), served.sum(),
                         (cost[served] ** 2).sum(), share)
    assert bound >= z.var()
    assert np.isinf(ipw_variance(5, 10.0, 1, 4.0, share))


def test_bench_small_run_prints_the_issue_line(tmp_path, capsys):
    bench_file = Path(__file__).resolve().parents[2] / "bench" / "bench_experiments.py"
    spec = importlib.util.spec_from_file_location("bench_experiments", bench_file)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    output = tmp_path / "experiments.json"
    assert bench.main(["--experiments", "40", "--seeds", "0", "--end-to-end", "1",
                       "--truth-rows", "200000", "--output", str(output)]) == 0
    live_line, last = capsys.readouterr().out.strip().splitlines()[-2:]
    assert re.fullmatch(r"experiments: false_promotion_rate=0\.\d{4} power=[01]\.\d{4} "
                        r"worse_rejected=[01]\.\d{4} alpha=0\.05 simulated=200", last), last
    assert re.fullmatch(r"live: false_promotion_rate=0\.\d{4} power=[01]\.\d{4} "
                        r"worse_rejected=[01]\.\d{4} alpha=0\.05 simulated=200 share=0\.2 "
                        r"rows_per_day=20000", live_line), live_line
    result = json.loads(output.read_text())
    assert result["end_to_end"]["looks_checked"] == 3
    assert result["scenarios"]["same"]["true_difference"] == 0.0
    assert result["scenarios"]["better"]["true_difference"] < 0 < \
        result["scenarios"]["worse"]["true_difference"]
    assert result["live"]["same"]["true_difference"] == 0.0
