"""The monitor job on local folders, with the same analysis code.

    python main.py monitor-local --capture DIR --reference CSV [--labels CSV] [--model DIR]
                                 [--workdir DIR] [--env ENV]

Reads every data capture file under DIR (SageMaker's JSON Lines), the reference CSV (the model's
training data, contract columns) and optionally delayed labels (inference_id,[row,]is_fraud);
with --model, the reference is scored by that model so the predicted probability is compared
too. Prints a per-column drift table and the verdict; writes monitoring.json and report.html
(report-quality.html with labels) into the work folder (default .work/monitor).
Exit status: 0 no drift and quality holds, 1 drift or quality below the gate, 2 bad input.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from pipeline_src.contract import ContractError


class InputError(ValueError):
    """Bad input to monitor-local (exit 2)."""


def settings_for(env: str):
    """MonitorSettings from config/<env>.json (gate minima, drift share, row cap)."""
    from pipeline_src.monitoring import MonitorSettings

    try:
        from infra.config import load_environment
    except ImportError:  # pragma: no cover - pipeline_src without the infra package
        return MonitorSettings()
    config = load_environment(env)
    return settings_from_config(config)


def settings_from_config(config):
    from pipeline_src.monitoring import MonitorSettings

    return MonitorSettings.of(config.monitoring, config.quality_gate.thresholds())


def load_inputs(args):
    from pipeline_src import capture
    from pipeline_src.monitoring import read_reference
    from pipeline_src.model_io import ModelLoadError

    if not args.capture.is_dir():
        raise InputError(f"--capture {args.capture}: no such folder")
    if not capture.capture_files(args.capture):
        raise InputError(f"--capture {args.capture}: no data capture file (*.jsonl) under it")
    rows = capture.read_directory(args.capture)
    current = rows.frame()
    if len(current) == 0:
        raise InputError(f"--capture {args.capture}: {rows.records} capture record(s), none "
                         f"usable ({rows.violations} contract violation(s))")
    reference = read_reference(args.reference)
    model = None
    if args.model is not None:
        from pipeline_src.inference import model_fn

        if not args.model.is_dir():
            raise InputError(f"--model {args.model}: no such folder")
        try:
            model = model_fn(str(args.model))
        except ModelLoadError as exc:
            raise InputError(str(exc)) from None
    labels = None
    if args.labels is not None:
        from pipeline_src.monitoring import read_labels

        labels = read_labels(args.labels)
    return rows, current, reference, model, labels


def run(args) -> int:
    from pipeline_src.capture import PROBABILITY
    from pipeline_src.evaluate import score
    from pipeline_src.monitoring import analyse, feature_table, write_report

    started = time.perf_counter()
    settings = settings_for(args.env)
    rows, current, reference, model, labels = load_inputs(args)
    if model is not None:
        reference = reference.assign(**{PROBABILITY: score(model, reference)})
    summary, frames = analyse(reference, current, settings, labels=labels,
                              violations=rows.violations,
                              violation_reasons=rows.violation_reasons, records=rows.records)
    if model is None:
        summary["prediction_note"] = "no --model: the predicted probability was not compared"
    args.workdir.mkdir(parents=True, exist_ok=True)
    write_report(frames, summary, args.workdir / "report.html",
                 threshold=model["threshold"] if model else None)
    (args.workdir / "monitoring.json").write_text(json.dumps(summary, indent=2, sort_keys=True)
                                                  + "\n")
    print(feature_table(summary))
    print(f"rows {summary['rows']} (analysed {summary['rows_analysed']}"
          f"{', sampled' if summary['sampled'] else ''}), contract violations "
          f"{summary['contract_violations']}, drifted features: "
          f"{', '.join(summary['drifted_features']) or 'none'} "
          f"(share {summary['drift_share']:.2f})")
    if labels is not None:
        if summary.get("quality_evaluated"):
            print(f"quality on {summary['labelled_rows']} labelled rows: PR-AUC "
                  f"{summary['pr_auc']:.3f}, recall {summary['recall']:.3f}, precision "
                  f"{summary['precision']:.3f}, F1 {summary['f1']:.3f}"
                  + ("" if summary["quality_passed"]
                     else f" (below the gate: {'; '.join(summary['quality_failures'])})"))
        else:
            print(f"quality not judged: {summary.get('quality_note')}")
    print(f"verdict: {summary['verdict']} ({time.perf_counter() - started:.1f} s); wrote "
          f"{args.workdir / 'monitoring.json'} and {args.workdir / 'report.html'}")
    return 1 if summary["alert"] else 0


def build_parser() -> argparse.ArgumentParser:
    from pipeline_src.cli import Parser, option_help

    parser = Parser(prog="python main.py monitor-local", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", required=True, type=Path, metavar="DIR", help=option_help(
        "folder of SageMaker data capture files (*.jsonl, JSON Lines, any depth below it): "
        "the traffic to judge", default="none, required",
        example="--capture .work/capture/sample-endpoint"))
    parser.add_argument("--reference", required=True, type=Path, metavar="CSV", help=option_help(
        "the model's training data (the data contract's columns): what drift is measured "
        "against", default="none, required", example="--reference .work/capture/reference.csv"))
    parser.add_argument("--labels", type=Path, metavar="CSV", help=option_help(
        "delayed ground truth, inference_id,[row,]is_fraud: with it, model quality is judged "
        "against the gate", default="none: drift only",
        example="--labels .work/capture/labels.csv"))
    parser.add_argument("--model", type=Path, metavar="DIR", help=option_help(
        "model folder (model.joblib, metadata.json): the reference is scored by it so the "
        "predicted probability is compared too", default="none: features only",
        example="--model .work/capture/model"))
    parser.add_argument("--workdir", type=Path, default=Path(".work/monitor"), metavar="DIR",
                        help=option_help("folder for monitoring.json and report.html "
                                         "(report-quality.html with --labels)",
                                         default=".work/monitor", example="--workdir /tmp/monitor"))
    parser.add_argument("--env", default="dev", metavar="NAME", help=option_help(
        "environment whose gate thresholds, drift share and row cap apply (config/NAME.json)",
        default="dev", example="--env prod"))
    return parser


def main(argv=None) -> int:
    from pipeline_src.cli import UsageError, print_error

    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print_error(exc)
        return 2
    if importlib.util.find_spec("evidently") is None:
        # `make run` installs only what synth and run-local need; evidently is the monitor group.
        print("error: monitor-local needs evidently (dependency group `monitor`), which `make run` "
              "does not install: run `make setup`", file=sys.stderr)
        return 2
    from pipeline_src.model_io import ModelLoadError

    try:
        from infra.config import ConfigError
    except ImportError:  # pragma: no cover
        ConfigError = InputError
    try:
        return run(args)
    except (InputError, ContractError, ModelLoadError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
