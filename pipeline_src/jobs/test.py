"""Test job (CodeBuild): evaluate the trained model on held-out data, gate it against the
configured minimums and the approved champion, and set the package Approved or Rejected.

    python -m pipeline_src.jobs.test [--train-output DIR] [--output-dir DIR]

Reads model_package.json from the Train stage's artifact (DIR, by default CodeBuild's
CODEBUILD_SRC_DIR_TrainOutput), writes model_package.json (with approval_status),
evaluation.json, model_quality.json, report.md and pr_curve.png to the output folder.
Exits 1 when the model fails the gate. In a pull-request run (PIPELINE_RUN=pull-request) the
package is Rejected whatever the gate says (never deployed) and the exit code is the gate's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from pipeline_src.contract import label_name, read_csv
from pipeline_src.evaluate import GATE_THRESHOLDS_ENV, evaluate, gate, write_results
from pipeline_src.jobs import common
from pipeline_src.jobs.common import JobError, SettingsError, aws_call, join_s3
from pipeline_src.model_io import ModelLoadError, extract_model_tarball, load_model

REQUIRED = ("MODEL_PACKAGE_GROUP", "DATA_S3_URI", "AWS_REGION", GATE_THRESHOLDS_ENV)
# The pull-request pipeline (config source.pull_requests) tells the job its run evaluates a pull
# request, in the Test action's EnvironmentVariables. Such a package is evaluated and gated like
# any other, then set Rejected whatever the gate says: it is never deployed, and never the
# champion later models are compared with (the champion is the newest Approved package).
RUN_ENV = "PIPELINE_RUN"
PULL_REQUEST_RUN = "pull-request"
PULL_REQUEST_NOTE = "pull-request run, evaluation only, never deployed"


def read_train_output(directory: Path) -> dict:
    path = directory / "model_package.json"
    if not path.is_file():
        raise SettingsError(f"{path}: missing; the Train stage writes it (is TrainOutput an input?)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not data.get("model_package_arn"):
        raise SettingsError(f"{path}: no model_package_arn")
    return data


def fetch_model(s3, model_data_url: str, dest: Path) -> dict:
    tarball = common.download(s3, model_data_url, dest / "model.tar.gz")
    return load_model(extract_model_tarball(tarball, dest / "model"))


def evaluate_package(s3, package: dict, role: str, arn: str, test_df, workdir: Path):
    """(model, metrics, scores) of a registered package on the test rows; a JobError naming it
    (role: challenger or champion) when its model cannot be loaded or cannot score them."""
    try:
        model = fetch_model(s3, model_data_url_of(package), workdir / role)
        return (model, *evaluate(model, test_df))
    except ModelLoadError as exc:
        raise JobError(f"{role} {arn} cannot be evaluated: {exc}") from None


def find_champion(sm, group: str, challenger_arn: str):
    """The most recently approved package in the group other than the challenger, or None."""
    response = aws_call(sm, "ListModelPackages", ModelPackageGroupName=group,
                        ModelApprovalStatus="Approved", SortBy="CreationTime",
                        SortOrder="Descending", MaxResults=20)
    for summary in response.get("ModelPackageSummaryList", []):
        if summary["ModelPackageArn"] != challenger_arn:
            return summary["ModelPackageArn"]
    return None


def model_data_url_of(package: dict) -> str:
    try:
        return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    except (KeyError, IndexError):
        raise JobError(f"{package.get('ModelPackageArn')}: no ModelDataUrl in its "
                       "inference specification") from None


def run_job(train_output: Path, output_dir: Path, environ=None, session=None) -> int:
    import boto3

    environ = os.environ if environ is None else environ
    settings = common.require_env(REQUIRED, environ)
    thresholds = common.gate_thresholds(settings)
    run = environ.get(RUN_ENV, "").strip()
    if run not in ("", PULL_REQUEST_RUN):
        raise SettingsError(f"{RUN_ENV}={run[:80]!r} is not a run kind; allowed: "
                            f"{PULL_REQUEST_RUN!r} or unset")
    pull_request = run == PULL_REQUEST_RUN
    info = read_train_output(train_output)
    arn = info["model_package_arn"]
    session = session or boto3.session.Session(region_name=settings["AWS_REGION"])
    s3, sm = common.clients(session, "s3", "sagemaker")

    package = aws_call(sm, "DescribeModelPackage", ModelPackageName=arn)
    group = settings["MODEL_PACKAGE_GROUP"]
    if package.get("ModelPackageGroupName") != group:
        raise JobError(f"{arn} belongs to group {package.get('ModelPackageGroupName')!r}, "
                       f"not {group!r}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        test_df = read_csv(common.download(s3, join_s3(settings["DATA_S3_URI"], "test.csv"),
                                           workdir / "test.csv"))
        model, metrics, scores = evaluate_package(s3, package, "challenger", arn, test_df, workdir)
        print("challenger: " + ", ".join(f"{k}={metrics[k]:.4f}"
                                          for k in ("roc_auc", "pr_auc", "precision", "recall", "f1")))

        champion = None
        champion_arn = find_champion(sm, group, arn)
        if champion_arn:
            champion_package = aws_call(sm, "DescribeModelPackage", ModelPackageName=champion_arn)
            _, champion_metrics, champion_scores = evaluate_package(
                s3, champion_package, "champion", champion_arn, test_df, workdir)
            champion = {"arn": champion_arn, "metrics": champion_metrics, "scores": champion_scores}
            print(f"champion {champion_arn}: pr_auc={champion_metrics['pr_auc']:.4f}, "
                  f"f1={champion_metrics['f1']:.4f}")
        else:
            print("no approved champion in the group: gating on thresholds only")

        result = gate(metrics, thresholds, champion)
        status = "Approved" if result["passed"] and not pull_request else "Rejected"
        description = (f"{PULL_REQUEST_NOTE}; gate {'passed' if result['passed'] else 'failed'}: "
                       f"{result['summary']}" if pull_request else result["summary"])
        aws_call(sm, "UpdateModelPackage", ModelPackageArn=arn, ModelApprovalStatus=status,
                 ApprovalDescription=description[:1024],
                 CustomerMetadataProperties={f"test_{k}": f"{metrics[k]:.6f}"
                                             for k in ("roc_auc", "pr_auc", "precision", "recall", "f1")})
        y_true = test_df[label_name()].to_numpy()
        write_results(output_dir, metrics, result, y_true, scores, champion,
                      extra={"model_package_arn": arn},
                      model_metadata=model["metadata"])
    common.write_json(output_dir / "model_package.json", {**info, "approval_status": status})
    print(f"{arn}: {status}: {description}")
    if not result["passed"]:
        print(f"error: model rejected by the quality gate: {'; '.join(result['reasons'])}",
              file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_src.jobs.test",
                                     description=__doc__.splitlines()[0])
    default_input = os.environ.get("CODEBUILD_SRC_DIR_TrainOutput") or "."
    parser.add_argument("--train-output", default=default_input, type=Path)
    parser.add_argument("--output-dir", default="job-output", type=Path)
    args = parser.parse_args(argv)
    return common.run(lambda: run_job(args.train_output, args.output_dir))


if __name__ == "__main__":
    sys.exit(main())
