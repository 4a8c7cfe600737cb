"""Drift and model-quality analysis of captured traffic, with Evidently.

Used the same way by the scheduled job (pipeline_src/jobs/monitor.py) and by
``main.py monitor-local``. Plain functions, explicit data flow:

    captured rows (capture.py) ─┐
    reference rows (the served model's training data, same contract)
                                ├─ drift_table: per column, the test Evidently picks for its type
    labels CSV (delayed truth) ─┴─ quality: PR-AUC, recall, precision, F1 against the gate
    ─► summary (monitoring.json), report (Evidently HTML), CloudWatch metric values

Evidently's usage telemetry is switched off before it is imported (``disable_telemetry``).
"""
from __future__ import annotations

import os
from typing import Optional

from pipeline_src.capture import INFERENCE_ID, PREDICTED_LABEL, PROBABILITY, ROW
from pipeline_src.contract import ContractError, features, label_name, label_values
# What the verdict depends on: declared once, by the monitor job's settings contract.
from pipeline_src.jobs.monitor_settings import MonitorSettings

# Evidently 0.7: DO_NOT_TRACK is read by evidently.telemetry, EVIDENTLY_DISABLE_TELEMETRY by its
# legacy config; ITERATIVE_DO_NOT_TRACK by the iterative-telemetry logger underneath both.
TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1",
                 "ITERATIVE_DO_NOT_TRACK": "1"}
# A contract integer column with at most this many allowed values is categorical (hour, day of
# week, merchant category, online flag); the rest are numerical.
MAX_CATEGORIES = 24
SAMPLE_SEED = 0


def disable_telemetry() -> None:
    os.environ.update(TELEMETRY_OFF)


def column_kinds() -> dict[str, str]:
    """Per feature, the kind of drift test: the contract's categorical columns, and integer
    columns with few values (a flag, an hour), get a categorical test; the rest a numerical one."""
    kinds = {}
    for f in features():
        span = f.max - f.min + 1
        kinds[f.name] = ("cat" if f.categorical or (f.dtype == "int" and span <= MAX_CATEGORIES)
                         else "num")
    return kinds


def cap_rows(df, cap: int):
    """At most ``cap`` rows, a seeded random sample beyond it (said in the summary)."""
    if len(df) <= cap:
        return df, False
    return df.sample(n=cap, random_state=SAMPLE_SEED).reset_index(drop=True), True


def drift_table(reference, current) -> list[dict]:
    """Per column (contract features, then the predicted probability when both sides have it):
    Evidently's default test for the column's type and the reference size, its score, threshold
    and verdict, exactly as its DataDriftPreset / ValueDrift computes them."""
    disable_telemetry()
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kinds = column_kinds()
    columns = [(name, kind) for name, kind in kinds.items()]
    if PROBABILITY in reference.columns and PROBABILITY in current.columns:
        columns.append((PROBABILITY, "num"))
    rows = []
    for name, kind in columns:
        ctype = ColumnType.Categorical if kind == "cat" else ColumnType.Numerical
        ref, cur = reference[name], current[name]
        test = get_stattest(ref, cur, ctype, None)
        result = test(ref, cur, ctype, None)
        rows.append({"column": name, "type": "categorical" if kind == "cat" else "numerical",
                     "test": test.display_name, "score": float(result.drift_score),
                     "threshold": float(result.actual_threshold),
                     "drifted": bool(result.drifted)})
    return rows


def drift_verdict(table: list[dict], settings: MonitorSettings) -> dict:
    features = [r for r in table if r["column"] != PROBABILITY]
    drifted = [r["column"] for r in features if r["drifted"]]
    share = len(drifted) / len(features)
    prediction = next((r for r in table if r["column"] == PROBABILITY), None)
    prediction_drifted = bool(prediction and prediction["drifted"])
    return {"drift_detected": share >= settings.drift_share or prediction_drifted,
            "drifted_features": drifted, "drift_share": share,
            "prediction_drifted": prediction_drifted if prediction else None}


def read_reference(path):
    """Reference rows: a contract CSV, with or without the label (training data has it)."""
    from pipeline_src.contract import read_csv

    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            header = [c.strip() for c in handle.readline().strip().split(",")]
    except OSError:
        header = []
    return read_csv(path, require_label=label_name() in header)


# --- delayed ground truth -----------------------------------------------------------------------

def read_labels(path):
    """Labels CSV: ``inference_id``, optional ``row`` (1-based row of a multi-row request),
    the contract's label (its positive/negative values). ContractError (one line) otherwise."""
    import pandas as pd

    name, label = os.path.basename(str(path)), label_name()
    try:
        df = pd.read_csv(path, dtype={INFERENCE_ID: str}, skipinitialspace=True)
    except FileNotFoundError:
        raise ContractError(f"{name}: no such file ({path})") from None
    except pd.errors.EmptyDataError:
        raise ContractError(f"{name}: empty file (expected inference_id,[row,]{label})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ContractError(f"{name}: not a readable CSV file: "
                            f"{str(exc).strip().splitlines()[-1]}") from None
    allowed = {INFERENCE_ID, ROW, label}
    missing = [c for c in (INFERENCE_ID, label) if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in allowed]
    if missing or extra:
        raise ContractError(f"{name}: columns must be inference_id, optional row, {label}; "
                            + "; ".join(p for p in (
                                f"missing {', '.join(missing)}" if missing else "",
                                f"unexpected {', '.join(extra)}" if extra else "") if p))
    if df[INFERENCE_ID].isna().any():
        raise ContractError(f"{name}: column inference_id: {int(df[INFERENCE_ID].isna().sum())} "
                            "empty value(s)")
    values = label_values(df[label], name, both_classes=False)
    out = pd.DataFrame({INFERENCE_ID: df[INFERENCE_ID].astype(str), label: values})
    if ROW in df.columns:
        row = pd.to_numeric(df[ROW], errors="coerce")
        bad = row.notna() & ((row < 1) | (row != row.round()))
        if bad.any():
            raise ContractError(f"{name}: column row: {int(bad.sum())} value(s) not a positive "
                                f"integer (first: {df[ROW][bad].iloc[0]!r})")
        out[ROW] = row.fillna(1).astype("int64")
    else:
        out[ROW] = 1
    if out.duplicated([INFERENCE_ID, ROW]).any():
        first = out[out.duplicated([INFERENCE_ID, ROW])].iloc[0]
        raise ContractError(f"{name}: inference_id {first[INFERENCE_ID]!r} row {first[ROW]} "
                            "labelled more than once")
    return out


def join_labels(current, labels):
    """Captured rows that have a label, by (inference_id, row); and how many labels matched."""
    captured = current[current[INFERENCE_ID].notna()]
    joined = captured.merge(labels, on=[INFERENCE_ID, ROW], how="inner")
    return joined, {"labels": int(len(labels)), "labels_matched": int(len(joined)),
                    "labels_unmatched": int(len(labels) - len(joined))}


def quality(joined, settings: MonitorSettings) -> dict:
    """PR-AUC on the captured probability, recall/precision/F1 on the endpoint's own decision."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    from pipeline_src.evaluate import pr_auc

    y = joined[label_name()].to_numpy()
    positives = int(y.sum())
    result = {"labelled_rows": int(len(y)), "labelled_positives": positives,
              "pr_auc": None, "recall": None, "precision": None, "f1": None,
              "quality_evaluated": False, "quality_passed": None, "quality_failures": []}
    if len(y) == 0:
        result["quality_note"] = "no captured row has a label"
        return result
    predicted = joined[PREDICTED_LABEL].to_numpy()
    result["recall"] = float(recall_score(y, predicted, zero_division=0))
    result["precision"] = float(precision_score(y, predicted, zero_division=0))
    result["f1"] = float(f1_score(y, predicted, zero_division=0))
    if 0 < positives < len(y):
        result["pr_auc"] = pr_auc(y, joined[PROBABILITY].to_numpy())
    if positives < settings.min_labelled_positives or positives == len(y):
        result["quality_note"] = (f"{positives} labelled fraud(s) of {len(y)} rows; at least "
                                  f"{settings.min_labelled_positives} frauds and one legitimate "
                                  "row are needed to judge quality")
        return result
    gate = settings.gate
    minima = {"pr_auc": gate.min_pr_auc, "recall": gate.min_recall,
              "precision": gate.min_precision, "f1": gate.min_f1}
    failures = [f"{m} {result[m]:.3f} < {low}" for m, low in minima.items() if result[m] < low]
    result.update(quality_evaluated=True, quality_passed=not failures, quality_failures=failures)
    return result


# --- the whole analysis -------------------------------------------------------------------------

def analyse(reference, current, settings: MonitorSettings, *, labels=None,
            violations: int = 0, violation_reasons: Optional[dict] = None,
            records: int = 0) -> tuple[dict, dict]:
    """Summary (monitoring.json) and the frames the report needs."""
    rows = int(len(current))
    sampled_current, sampled = cap_rows(current, settings.row_cap)
    sampled_reference, _ = cap_rows(reference, settings.row_cap)
    summary = {
        "records": int(records), "rows": rows, "rows_analysed": int(len(sampled_current)),
        "sampled": sampled, "row_cap": settings.row_cap,
        "contract_violations": int(violations),
        "contract_violation_reasons": dict(sorted((violation_reasons or {}).items())),
        "reference_rows": int(len(reference)),
        "positive_rate": float(current[PREDICTED_LABEL].mean()) if rows else None,
    }
    if sampled:
        summary["sampling_note"] = (f"{rows} captured rows exceed the row cap {settings.row_cap}; "
                                    f"drift was computed on a seeded random sample of "
                                    f"{settings.row_cap}")
    table = drift_table(sampled_reference, sampled_current)
    summary.update(drift_verdict(table, settings))
    summary["features"] = table
    joined = None
    if labels is not None:
        joined, counts = join_labels(current, labels)
        summary.update(counts)
        summary.update(quality(joined, settings))
    quality_failed = summary.get("quality_passed") is False
    summary["verdict"] = ("drift" if summary["drift_detected"] else "no drift") + (
        ", quality below the gate" if quality_failed else "")
    summary["alert"] = bool(summary["drift_detected"] or quality_failed)
    return summary, {"reference": sampled_reference, "current": sampled_current,
                     "labelled": joined}


def write_report(frames: dict, summary: dict, path, threshold: Optional[float] = None) -> None:
    """Evidently's HTML report: DataDriftPreset on the features and the predicted probability,
    ClassificationPreset on the labelled rows when there are both classes."""
    disable_telemetry()
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    kinds = column_kinds()
    numerical = [c for c, k in kinds.items() if k == "num"]
    categorical = [c for c, k in kinds.items() if k == "cat"]
    reference, current = frames["reference"], frames["current"]
    if PROBABILITY in reference.columns:
        numerical = numerical + [PROBABILITY]
    columns = numerical + categorical
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition))
    snapshot.save_html(str(path))
    labelled = frames.get("labelled")
    if summary.get("quality_evaluated") and labelled is not None:
        label = label_name()
        quality_definition = DataDefinition(
            numerical_columns=[PROBABILITY], categorical_columns=[label, PREDICTED_LABEL],
            classification=[BinaryClassification(target=label, prediction_labels=PREDICTED_LABEL,
                                                 prediction_probas=PROBABILITY, pos_label=1)])
        quality_snapshot = Report([ClassificationPreset(probas_threshold=threshold)]).run(
            Dataset.from_pandas(labelled[[label, PREDICTED_LABEL, PROBABILITY]],
                                data_definition=quality_definition), None)
        quality_path = str(path).replace(".html", "-quality.html")
        quality_snapshot.save_html(quality_path)


def metric_values(summary: dict) -> list[tuple[str, float, str, Optional[str]]]:
    """(metric name, value, unit, feature) for CloudWatch; the dashboard and alarms read these."""
    values = [("Rows", summary["rows"], "Count", None),
              ("ContractViolations", summary["contract_violations"], "Count", None),
              ("DriftedFeatureShare", summary["drift_share"], "None", None),
              ("DriftDetected", 1.0 if summary["drift_detected"] else 0.0, "None", None)]
    if summary.get("positive_rate") is not None:
        values.append(("PositiveRate", summary["positive_rate"], "None", None))
    for row in summary["features"]:
        values.append(("DriftScore", row["score"], "None", row["column"]))
    for name, metric in (("pr_auc", "PrAuc"), ("recall", "Recall"), ("precision", "Precision"),
                         ("f1", "F1")):
        if summary.get("quality_evaluated") and summary.get(name) is not None:
            values.append((metric, summary[name], "None", None))
    return values


def feature_table(summary: dict) -> str:
    """The per-column table monitor-local prints."""
    lines = [f"{'column':<22} {'type':<12} {'test':<32} {'score':>8} {'threshold':>9}  drift"]
    for r in summary["features"]:
        lines.append(f"{r['column']:<22} {r['type']:<12} {r['test']:<32} {r['score']:>8.4f} "
                     f"{r['threshold']:>9.3f}  {'DRIFT' if r['drifted'] else '-'}")
    return "\n".join(lines)
