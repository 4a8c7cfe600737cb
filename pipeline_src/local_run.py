"""The whole ML path on this machine, with the entry points the pipeline uses.

    python main.py run-local [--data FILE] [--workdir DIR] [--env dev] [--rows N]

sample data (or --data FILE) -> data contract -> training in script mode under the SageMaker
training toolkit (SM_* pointed at DIR/opt_ml) -> evaluation and quality gate -> inference smoke
test through the serving handlers. Writes DIR/evaluation.json (and the report files).
Exit status: 0 gate passed, 1 gate failed, 2 bad input.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline_src.cli import (Parser, UsageError, int_in, option_help, output_folder,
                              print_error, remove_entries, staged_folder)
from pipeline_src.contract import SPLITS, ContractError, example_rows, label_name, read_csv

TOOLKIT = "from sagemaker_training.cli.train import main; main()"


# What a run leaves in the work folder; replaced as a whole when a run completes.
RESULTS = ("evaluation.json", "model_quality.json", "report.md", "pr_curve.png", "data", "opt_ml")


class RunFailed(RuntimeError):
    """Training, evaluation or the smoke test failed (exit 1)."""


@contextmanager
def stage(name: str):
    started = time.perf_counter()
    print(f"==> {name}", flush=True)
    yield
    print(f"    {name}: done in {time.perf_counter() - started:.2f} s", flush=True)


def environment_settings(env: str) -> tuple[dict, object]:
    """Hyperparameters and gate thresholds of config/<env>.json (ConfigError if it is bad)."""
    from infra.config import load_environment

    config = load_environment(env)
    return dict(config.training.hyperparameters), config.quality_gate.thresholds()


def prepare_data(args, data_dir: Path) -> dict:
    from pipeline_src.contract import validate_frame
    from pipeline_src.sample_data import class_balance, generate, split, write_splits

    if args.data is not None:
        df = read_csv(args.data)
        splits = split(df, args.seed, source=Path(args.data).name)
    else:
        df = validate_frame(generate(args.rows, args.seed), source="sample data")
        splits = split(df, args.seed, source=f"{args.rows} sample rows")
    print(class_balance(splits))
    return write_splits(splits, data_dir)


def prepare_sagemaker_dirs(base: Path, paths: dict, hyperparameters: dict) -> None:
    """An /opt/ml-shaped folder, as SageMaker lays it out for a training job."""
    from pipeline_src.jobs.common import TRAIN_PROGRAM, sourcedir_bytes

    if base.exists():
        shutil.rmtree(base)
    config = base / "input" / "config"
    config.mkdir(parents=True)
    for channel in ("train", "validation"):
        (base / "input" / "data" / channel).mkdir(parents=True)
        shutil.copy(paths[channel], base / "input" / "data" / channel / f"{channel}.csv")
    code = base / "input" / "data" / "code"
    code.mkdir(parents=True)
    (code / "sourcedir.tar.gz").write_bytes(sourcedir_bytes())
    hps = {k: json.dumps(str(v)) for k, v in hyperparameters.items()}
    hps.update({"sagemaker_program": json.dumps(TRAIN_PROGRAM),
                "sagemaker_submit_directory": json.dumps(str(code / "sourcedir.tar.gz")),
                "sagemaker_container_log_level": "30"})
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    (config / "inputdataconfig.json").write_text(json.dumps({
        c: {"ContentType": "text/csv" if c != "code" else "application/x-tar",
            "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None"} for c in ("train", "validation", "code")}))
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))


# The SageMaker scikit-learn container's packages on its Python (scripts/container-env.sh).
CONTAINER_PYTHON = Path(__file__).resolve().parent.parent / ".venv-container" / "bin" / "python"


def toolkit_python() -> str:
    """The Python that runs the training toolkit: the container's versions when
    .venv-container exists, else this one, said plainly."""
    if CONTAINER_PYTHON.is_file():
        probe = ("import sys, importlib.metadata as m; print(f\"sagemaker-training "
                 "{m.version('sagemaker-training')} on Python {sys.version.split()[0]}\")")
        version = subprocess.run([str(CONTAINER_PYTHON), "-c", probe], capture_output=True,
                                 text=True).stdout.strip()
        print(f"    {version} (.venv-container: the image's versions)")
        return str(CONTAINER_PYTHON)
    from importlib.metadata import version

    print(f"    sagemaker-training {version('sagemaker-training')} on Python "
          f"{sys.version.split()[0]}: NOT the image's versions (sagemaker-training 4.8.0 on "
          "Python 3.12); `make container-setup` installs those")
    return sys.executable


def run_training(base: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env["SAGEMAKER_BASE_DIR"] = str(base)
    # The toolkit's switch for local runs: skip waiting for the cluster's DNS names (algo-1).
    env["SM_STUDIO_LOCAL_MODE"] = "true"
    proc = subprocess.run([toolkit_python(), "-c", TOOLKIT], env=env, cwd=base,
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if "=" in line and line.split("=", 1)[0].startswith(("validation_", "threshold", "fit_")):
            print(f"    {line}")
    if proc.returncode != 0:
        # The entry point leaves its one-line reason in the failure file (as SageMaker's
        # FailureReason shows it); the toolkit's own errors end up there too.
        failure = base / "output" / "failure"
        reason = failure.read_text().strip() if failure.is_file() else ""
        reason = reason.splitlines()[-1] if reason else f"exit {proc.returncode}"
        raise RuntimeError(f"training failed under the SageMaker toolkit: {reason}")
    return base / "model"


def smoke_test(model_dir: Path) -> str:
    """Serve example rows through the handlers, as the container calls them (handle() is what
    transform_fn answers)."""
    from pipeline_src import inference
    from pipeline_src.contract import csv_text, feature_names

    model = inference.model_fn(str(model_dir))
    rows = example_rows(3)
    csv_body = csv_text(rows)
    json_body = json.dumps([dict(zip(feature_names(), row)) for row in rows])
    answers = []
    for body, content_type in ((csv_body, "text/csv"), (json_body, "application/json")):
        status, text, media = inference.handle(model, body, content_type, "application/json")
        predictions = json.loads(text).get("predictions", []) if status == 200 else []
        if media != "application/json" or len(predictions) != len(rows) or not all(
                set(p) == {"probability", "label"} for p in predictions):
            raise RuntimeError(f"inference smoke test: unexpected response {status} {text[:200]}")
        answers.append(predictions)
    if answers[0] != answers[1]:
        raise RuntimeError("inference smoke test: text/csv and application/json answers differ")
    status, text, _ = inference.handle(model, "1,2,3", "text/csv", "application/json")
    if status != 400:
        raise RuntimeError(f"inference smoke test: a 3-column row got {status} {text[:200]}")
    return json.dumps({"predictions": answers[0]})


def build_parser() -> Parser:
    from pipeline_src.sample_data import MAX_ROWS, MAX_SEED, MIN_ROWS

    parser = Parser(prog="python main.py run-local", description="Run the whole ML path locally.")
    parser.add_argument("--data", metavar="FILE", help=option_help(
        "CSV file, or gzip-compressed .csv.gz, with a header: the data contract's columns and "
        "the label; split 60/20/20 into train/validation/test",
        default="the seeded sample data set (--rows, --seed)",
        example="--data data/transactions.csv.gz"))
    parser.add_argument("--workdir", metavar="DIR", default=".work/local-run", help=option_help(
        "folder for the results (evaluation.json, report.md, pr_curve.png, the splits, the "
        "model); earlier results there are replaced only when the run completes",
        default=".work/local-run", example="--workdir /tmp/run-1"))
    parser.add_argument("--env", metavar="NAME", default="dev", help=option_help(
        "environment whose hyperparameters and quality gate thresholds are used "
        "(config/NAME.json)", default="dev", example="--env prod"))
    parser.add_argument("--rows", metavar="N", type=int_in(MIN_ROWS, MAX_ROWS), help=option_help(
        f"rows of sample data to generate, {MIN_ROWS}..{MAX_ROWS}; not with --data",
        default="50000", example="--rows 200000"))
    parser.add_argument("--seed", metavar="N", type=int_in(0, MAX_SEED), default=42,
                        help=option_help(f"seed of the sample data and of the split, "
                                         f"0..{MAX_SEED}", default="42", example="--seed 7"))
    return parser


def _check(args) -> None:
    if args.data is not None and not args.data.strip():
        # An unset variable in CI must not quietly train and gate on the sample data.
        raise UsageError("--data: empty; give a CSV file, or leave --data out to use the "
                         "sample data")
    if args.data is not None and args.rows is not None:
        raise UsageError("--rows sets the size of the sample data; it cannot be used with --data")
    args.rows = 50_000 if args.rows is None else args.rows


def main(argv=None) -> int:
    from infra.config import ConfigError
    from pipeline_src.evaluate import evaluate, gate, write_results
    from pipeline_src.model_io import ModelLoadError, load_model

    started = time.perf_counter()
    workdir = None
    try:
        args = build_parser().parse_args(argv)
        workdir = output_folder(args.workdir, "--workdir").resolve()
        # Earlier results go first: a refused or failed run must not leave a passing evaluation.
        remove_entries(workdir, RESULTS)
        _check(args)
    except UsageError as exc:
        print_error(exc)
        return 2
    source = (str(args.data) if args.data is not None
              else f"sample, {args.rows} rows, seed {args.seed}")
    try:
        with staged_folder(workdir, "--workdir") as staging:
            try:
                with stage("settings"):
                    hyperparameters, thresholds = environment_settings(args.env)
                    print(f"    hyperparameters: {hyperparameters or 'entry point defaults'}")
                with stage(f"data ({source})"):
                    paths = prepare_data(args, staging / "data")
                with stage("contract"):
                    frames = {name: read_csv(paths[name]) for name in SPLITS}
                    print("    " + ", ".join(f"{n}: {len(f)} rows ok" for n, f in frames.items()))
            except (ContractError, ConfigError, ValueError) as exc:
                raise UsageError(str(exc)) from None
            try:
                with stage("train (SageMaker training toolkit, script mode)"):
                    base = staging / "opt_ml"
                    prepare_sagemaker_dirs(base, paths, hyperparameters)
                    model_dir = run_training(base)
                with stage("evaluate and gate"):
                    model = load_model(model_dir)
                    metrics, scores = evaluate(model, frames["test"])
                    result = gate(metrics, thresholds)
                    write_results(staging, metrics, result, frames["test"][label_name()].to_numpy(),
                                  scores, extra={"model_dir": str(workdir / "opt_ml" / "model"),
                                                 "data": source},
                                  model_metadata=model["metadata"])
                with stage("inference smoke test (model_fn, transform_fn)"):
                    print(f"    {smoke_test(model_dir)}")
            except (RuntimeError, ModelLoadError) as exc:
                raise RunFailed(str(exc)) from None
    except UsageError as exc:
        print_error(exc)
        return 2
    except RunFailed as exc:
        print_error(exc)
        return 1

    print("")
    print(f"{'metric':<10}{'model':>9}{'no-skill':>10}")
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
        print(f"{name:<10}{metrics[name]:>9.4f}{metrics['baseline'][name]:>10.4f}")
    cm = metrics["confusion_matrix"]
    print(f"threshold {metrics['threshold']:.4f}; TP {cm['tp']} FP {cm['fp']} FN {cm['fn']} "
          f"TN {cm['tn']}")
    print(f"gate: {'PASSED' if result['passed'] else 'FAILED'}: {result['summary']}")
    print(f"wrote {workdir / 'evaluation.json'}, report.md, pr_curve.png "
          f"(total {time.perf_counter() - started:.1f} s)")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
