"""Champion vs challenger verdict on local folders, with the controller's own code.

    python main.py verdict-local --capture DIR --labels CSV --start TIME [--as-of TIME]
                                 [--env ENV] [--stage NAME] [--champion V] [--challenger V]
                                 [--live-share S] [--output FILE]

DIR is an endpoint's data capture folder: one folder per variant below it (SageMaker writes
``<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``; the variant is known only from the path). Pairs
the champion's and the challenger's records by inference id and row, joins the delayed labels
(inference_id,[row,]is_fraud), counts only transactions from --start that are older than the
label horizon at --as-of, and prints the outcome (promote, reject, inconclusive or continue), the
interval of the cost difference per transaction, sample sizes and each variant's cost, recall
and precision. The rule's settings are the stage's `experiment` section of config/ENV.json.
With --live-share S: the live phase's unpaired verdict instead (each request counted for the
variant whose folder holds it, the challenger serving share S, --start the live phase's start:
its 6-live record's started_at).
Exit status: 0 when a verdict was reached or is still open, 2 bad input.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path


class InputError(ValueError):
    """Bad input to verdict-local (exit 2)."""


def moment(text: str, option: str) -> datetime:
    from pipeline_src.verdict import parse_time

    when = parse_time(text)
    if when is None:
        raise InputError(f"{option} {text!r}: not a time; expected ISO 8601, e.g. "
                         "2026-11-01T00:00:00Z")
    return when


def stage_rule(env: str, stage: str):
    """(the stage's experiment section, champion variant, where they came from)."""
    from infra.config import ExperimentConfig, load_environment

    config = load_environment(env)
    found = next((s for s in config.stages if s.name == stage), None)
    if found is None:
        raise InputError(f"--stage {stage!r}: config/{env}.json has stages "
                         f"{', '.join(s.name for s in config.stages)}")
    if found.experiment is None:
        return (ExperimentConfig(), found.variants[0].name,
                f"the contract's defaults (config/{env}.json stage {stage} has no experiment "
                "section)")
    return found.experiment, found.variants[0].name, f"config/{env}.json stage {stage}"


def variant_rows(folder: Path, variant: str, option: str):
    from pipeline_src import capture

    path = folder / variant
    if not path.is_dir() or not capture.capture_files(path):
        present = sorted(p.name for p in folder.iterdir() if p.is_dir())
        raise InputError(f"{option} {variant!r}: no capture files under {path} (variant folders "
                         f"there: {', '.join(present) or 'none'})")
    return capture.read_directory(path).frame()


def run(args) -> int:
    from pipeline_src.monitoring import read_labels
    from pipeline_src.verdict import VerdictInputError, live_verdict, verdict

    if not args.capture.is_dir():
        raise InputError(f"--capture {args.capture}: no such folder")
    start = moment(args.start, "--start")
    as_of = moment(args.as_of, "--as-of") if args.as_of else datetime.now(timezone.utc)
    if as_of <= start:
        raise InputError(f"--as-of {as_of.isoformat()} is not after --start {start.isoformat()}")
    share = live_share(args.live_share) if args.live_share is not None else None
    rule, champion_variant, source = stage_rule(args.env, args.stage)
    champion = args.champion or champion_variant
    challenger = args.challenger or rule.challenger_variant
    if champion == challenger:
        raise InputError(f"--challenger {challenger!r} is the champion's variant")
    a = variant_rows(args.capture, champion, "--champion")
    b = variant_rows(args.capture, challenger, "--challenger")
    labels = read_labels(args.labels)
    try:
        if share is not None:
            summary = live_verdict(a, b, labels, start=start, as_of=as_of, share=share,
                                   rule=rule)
        else:
            summary = verdict(a, b, labels, start=start, as_of=as_of, rule=rule)
    except VerdictInputError as exc:
        raise InputError(str(exc)) from None
    summary.update(champion_variant=champion, challenger_variant=challenger,
                   start=start.isoformat(), as_of=as_of.isoformat(), settings=source)
    counts = summary["counts"]
    print(f"settings: {source}")
    if share is not None:
        print(f"live phase, challenger share {share}: counted {summary['labelled_rows']} "
              f"labelled requests (champion {summary['champion']['labelled']}, challenger "
              f"{summary['challenger']['labelled']}); served by both (left out) "
              f"{counts['served_by_both']}; without a label: champion "
              f"{counts['champion_unlabelled']}, challenger {counts['challenger_unlabelled']}")
    else:
        print(f"pairs {counts['pairs']} (champion unpaired {counts['champion_unpaired']}, "
              f"challenger unpaired {counts['challenger_unpaired']}); counted "
              f"{summary['labelled_pairs']} labelled pairs ({summary['labelled_frauds']} "
              f"frauds); left out: {counts['pairs_within_horizon']} within the "
              f"{rule.label_horizon_days}-day horizon, {counts['pairs_unlabelled']} without a "
              f"label, {counts['pairs_before_start']} before the start")
    for name in ("champion", "challenger"):
        side = summary[name]
        shown = {k: ("-" if v is None else f"{v:.4f}") for k, v in side.items()
                 if k in ("cost_per_transaction", "recall", "precision")}
        print(f"{name:<10} {summary[f'{name}_variant']:<20} cost/transaction "
              f"{shown['cost_per_transaction']}  recall {shown['recall']}  precision "
              f"{shown['precision']}")
    print(f"verdict: {summary['outcome']}: {summary['reason']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_name(args.output.name + ".partial")
    temporary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    temporary.replace(args.output)
    print(f"wrote {args.output}")
    return 0


def live_share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = None
    if share is None or not 0 < share < 1:
        raise InputError(f"--live-share {text!r}: not a share between 0 and 1, e.g. 0.1")
    return share


def build_parser():
    from pipeline_src.cli import Parser, option_help

    parser = Parser(prog="python main.py verdict-local", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", required=True, type=Path, metavar="DIR", help=option_help(
        "an endpoint's data capture folder, one folder per variant below it",
        default="none, required", example="--capture .work/capture/fraud-mlops-prod"))
    parser.add_argument("--labels", required=True, type=Path, metavar="CSV", help=option_help(
        "delayed ground truth, inference_id,[row,]is_fraud", default="none, required",
        example="--labels labels.csv"))
    parser.add_argument("--start", required=True, metavar="TIME", help=option_help(
        "when the experiment started (ISO 8601)", default="none, required",
        example="--start 2026-11-01T00:00:00Z"))
    parser.add_argument("--as-of", dest="as_of", metavar="TIME", help=option_help(
        "the moment the verdict is taken at (ISO 8601)", default="now",
        example="--as-of 2026-12-01T00:00:00Z"))
    parser.add_argument("--env", default="prod", metavar="NAME", help=option_help(
        "environment whose stage's experiment settings apply (config/NAME.json)",
        default="prod", example="--env dev"))
    parser.add_argument("--stage", default="prod", metavar="NAME", help=option_help(
        "the stage running the experiment", default="prod", example="--stage prod"))
    parser.add_argument("--champion", metavar="VARIANT", help=option_help(
        "the champion's variant folder", default="the stage's production variant",
        example="--champion AllTraffic"))
    parser.add_argument("--challenger", metavar="VARIANT", help=option_help(
        "the challenger's variant folder", default="experiment.challenger_variant",
        example="--challenger Challenger"))
    parser.add_argument("--live-share", dest="live_share", metavar="S", help=option_help(
        "the live phase's verdict (unpaired), the challenger serving this share; --start is "
        "the live phase's start", default="the shadow phase's paired verdict",
        example="--live-share 0.1"))
    parser.add_argument("--output", type=Path, default=Path(".work/verdict/verdict.json"),
                        metavar="FILE", help=option_help(
                            "where the verdict (JSON) is written", default=".work/verdict/"
                            "verdict.json", example="--output /tmp/verdict.json"))
    return parser


def main(argv=None) -> int:
    from pipeline_src.cli import UsageError, print_error
    from pipeline_src.contract import ContractError

    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print_error(exc)
        return 2
    from infra.config import ConfigError

    try:
        return run(args)
    except (InputError, ContractError, ConfigError) as exc:
        print_error(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
