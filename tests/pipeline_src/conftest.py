"""Fixtures for pipeline_src: small seeded data sets, a trained model, and a moto AWS account."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pipeline_src import train as train_entry
from pipeline_src.sample_data import generate, split, write_splits
from tests.moto_accounts import fake_credentials

REGION = "eu-west-1"
# The dev environment's names (infra/naming.py), so the IAM sufficiency test can match the
# recorded calls to the synthesized policies.
BUCKET = "fraud-mlops-dev-artifacts-123456789012-eu-west-1"
GROUP = "fraud-mlops-dev-models"
ROLE = "arn:aws:iam::123456789012:role/fraud-mlops-dev-sagemaker-training"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="session")
def splits():
    """20k rows of the reference generator: enough fraud cases (~60) for every split."""
    return split(generate(20_000, seed=42), seed=42)


@pytest.fixture(scope="session")
def data_dir(splits, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    write_splits(splits, out)
    return out


def train_model(data_dir: Path, out: Path, extra_args=(), train_file=None) -> Path:
    """Run the training entry point with SageMaker-shaped folders; return the model folder."""
    for channel in ("train", "validation"):
        (out / channel).mkdir(parents=True, exist_ok=True)
        src = train_file if (channel == "train" and train_file) else data_dir / f"{channel}.csv"
        (out / channel / f"{channel}.csv").write_bytes(Path(src).read_bytes())
    rc = train_entry.main(["--train", str(out / "train"), "--validation", str(out / "validation"),
                           "--model-dir", str(out / "model"), "--output-data-dir", str(out / "output"),
                           *extra_args])
    assert rc == 0
    return out / "model"


@pytest.fixture(scope="session")
def model_dir(data_dir, tmp_path_factory) -> Path:
    """The entry point's model with its defaults (the family it chooses on this data)."""
    return train_model(data_dir, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="session")
def capture_model_dir(tmp_path_factory) -> Path:
    """The model sample_capture trains when given none (its 50k-row reference sample, the
    entry point's defaults), trained once per session and passed to it with --model."""
    from pipeline_src.sample_capture import reference_model

    out = tmp_path_factory.mktemp("capture-model")
    reference_model(out, None)
    return out / "model"


@pytest.fixture(scope="session")
def scorecard_model_dir(data_dir, tmp_path_factory) -> Path:
    return train_model(data_dir, tmp_path_factory.mktemp("scorecard"),
                       ["--model-family", "scorecard"])


# Amount above which nan_scoring_copy's model scores NaN: the contract's example rows lie below,
# a few rows of the 20k-row data's test split above.
NAN_ABOVE_AMOUNT = 300.0


def nan_scoring_copy(model_dir: Path, dest: Path) -> Path:
    """A copy of the trained model that unpickles and scores the contract's example rows, so
    load_model accepts it, but scores NaN for rows with amount > NAN_ABOVE_AMOUNT."""
    import shutil

    import joblib

    shutil.copytree(model_dir, dest)
    joblib.dump(NanAboveAmount(joblib.load(dest / "model.joblib")), dest / "model.joblib")
    return dest


class NanAboveAmount:
    """The trained estimator, with NaN scores above NAN_ABOVE_AMOUNT."""

    def __init__(self, estimator):
        self.estimator = estimator

    def predict_proba(self, X):
        import numpy as np

        from pipeline_src.contract import feature_names

        p = self.estimator.predict_proba(X)
        amount = np.asarray(X, dtype=float)[:, feature_names().index("amount")]
        p[amount > NAN_ABOVE_AMOUNT] = np.nan
        return p


@pytest.fixture(scope="session")
def noise_train_csv(splits, tmp_path_factory) -> Path:
    """Training data whose labels carry no signal: the model trained on it must fail the gate."""
    import numpy as np

    df = splits["train"].copy()
    df["is_fraud"] = np.random.RandomState(0).permutation(df["is_fraud"].to_numpy())
    path = tmp_path_factory.mktemp("noise") / "train.csv"
    df.to_csv(path, index=False)
    return path


def tarball(model_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(Path(model_dir).iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch, data_dir):
    """A moto account with the artifact bucket, the data set and the model package group."""
    import boto3
    from moto import mock_aws

    fake_credentials(monkeypatch, REGION)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        for name in ("train", "validation", "test"):
            s3.put_object(Bucket=BUCKET, Key=f"data/{name}.csv",
                          Body=(data_dir / f"{name}.csv").read_bytes())
        session.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        yield session


def job_environment(**overrides) -> dict:
    env = {
        "PROJECT_NAME": "fraud-mlops", "ENVIRONMENT": "dev", "RESOURCE_PREFIX": "fraud-mlops-dev",
        "ARTIFACT_BUCKET": BUCKET, "DATA_S3_URI": f"s3://{BUCKET}/data",
        "TRAINING_OUTPUT_S3_URI": f"s3://{BUCKET}/training", "MODEL_PACKAGE_GROUP": GROUP,
        "SAGEMAKER_EXECUTION_ROLE_ARN": ROLE, "KMS_KEY_ARN": KMS,
        "SKLEARN_FRAMEWORK_VERSION": "1.4-2-py312", "TRAINING_INSTANCE_TYPE": "ml.m5.large",
        "TRAINING_INSTANCE_COUNT": "1", "TRAINING_VOLUME_SIZE_GB": "10",
        "TRAINING_MAX_RUNTIME_SECONDS": "3600",
        "HYPERPARAMETERS": json.dumps({"min-samples-leaf": "30", "regularization-c": "1.0",
                                       "threshold-folds": "4", "threads": "1"}),
        "INFERENCE_INSTANCE_TYPES": "ml.m5.large,ml.m5.xlarge",
        "TRAINING_JOB_TAGS": json.dumps({"mlops:environment": "dev", "mlops:project": "fraud-mlops"}),
        # Below what the 20k-row fixture model reaches on its 11 test frauds (PR-AUC ~0.35).
        "GATE_THRESHOLDS": gate_thresholds(),
        "AWS_REGION": REGION, "CODEBUILD_RESOLVED_SOURCE_VERSION": "3Hq.w_9xYzAbCdEf",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def gate_thresholds(**overrides) -> str:
    """GATE_THRESHOLDS as infra writes it (GateThresholds.to_json)."""
    from pipeline_src.evaluate import GateThresholds

    values = {"min_pr_auc": 0.2, "min_roc_auc": 0.9, "min_recall": 0.3, "min_precision": 0.2,
              "min_f1": 0.3, "champion_tolerance": 0.02, **overrides}
    return GateThresholds(**values).to_json()


def shifted_capture(tmp_path_factory, model_dir, endpoint: str, rows: int) -> Path:
    """sample_capture's traffic through model_dir's model, `amount` scaled by 1.5 (drift), in
    the window 2026-11-22 06:00-07:00, as the endpoint would capture it."""
    from pipeline_src import sample_capture

    out = tmp_path_factory.mktemp("capture")
    assert sample_capture.main(["--out", str(out), "--rows", str(rows), "--seed", "9",
                                "--start", "2026-11-22T06:00", "--endpoint", endpoint,
                                "--shift", "amount=1.5", "--model", str(model_dir)]) == 0
    return out


def serve_package(sm, endpoint: str, package_arn: str, role_arn: str, capture_uri: str,
                  kms_key_arn=None) -> str:
    """The endpoint the deploy step builds from a package (model, config with full data capture,
    endpoint; its one variant the deploy step's default), as moto holds it; its config's name."""
    from lambda_deploy.settings import DEFAULT_VARIANT

    name = f"{endpoint}-v1-abcdef12"
    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn,
                    Containers=[{"ModelPackageName": package_arn}])
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": DEFAULT_VARIANT, "ModelName": name,
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": capture_uri,
                           **({"KmsKeyId": kms_key_arn} if kms_key_arn else {}),
                           "CaptureOptions": [{"CaptureMode": "Input"},
                                              {"CaptureMode": "Output"}]})
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=name)
    return name


def monitor_job_environment(*, endpoints, bucket: str, group: str, kms_key_arn: str,
                            namespace: str, readers=None, external_id: str = "",
                            experiments=None, regions=None, **overrides) -> dict:
    """The monitor job's environment as infra writes it (the job's own contract,
    MonitorJobSettings.environment()), one-hour windows, plus what CodeBuild sets; overrides by
    variable name, None removes one. experiments: {endpoint: ExperimentRule}; regions: {endpoint:
    its secondary regions}."""
    from pipeline_src.evaluate import GateThresholds
    from pipeline_src.jobs.monitor_settings import MonitorJobSettings

    settings = MonitorJobSettings(
        schedule_hours=1, drift_share=0.05, row_cap=200_000, min_labelled_positives=5,
        gate=GateThresholds.from_json(gate_thresholds()), endpoints=tuple(endpoints),
        metric_namespace=namespace, output_uri=f"s3://{bucket}/monitoring",
        ground_truth_uri=f"s3://{bucket}/ground-truth", data_uri=f"s3://{bucket}/data",
        model_package_group=group, kms_key_arn=kms_key_arn, readers=readers or {},
        external_id=external_id, regions=regions or {}, experiments=experiments or {},
        experiments_uri=f"s3://{bucket}/experiments")
    env = {**settings.environment(), "AWS_REGION": REGION, **overrides}
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def fake_training(aws):
    """Stands in for the SageMaker service: when CreateTrainingJob is called, put the given
    model's model.tar.gz where SageMaker would write it. Records the requests."""
    state = {"model_dir": None, "requests": []}

    def after_create(params, **_):
        state["requests"].append(params)
        output = params["OutputDataConfig"]["S3OutputPath"].replace("s3://", "").split("/", 1)
        key = f"{output[1]}/{params['TrainingJobName']}/output/model.tar.gz"
        aws.client("s3").put_object(Bucket=output[0], Key=key, Body=tarball(state["model_dir"]))

    aws.events.register("provide-client-params.sagemaker.CreateTrainingJob", after_create)
    return state


def put_experiment_start(s3, bucket: str, endpoint: str, experiment_id: str, start,
                         variants: tuple[str, str] = ("AllTraffic", "Challenger")) -> str:
    """The start record as the deploy function writes it (lambda_deploy/experiment.py start);
    returns the key of the experiment's verdict."""
    from dataclasses import asdict

    from lambda_deploy.experiment import STARTED, VERDICT, Experiment

    package = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{endpoint}/"
    experiment = Experiment(
        id=experiment_id, stage=endpoint.rsplit("-", 1)[-1], endpoint=endpoint,
        champion_variant=variants[0], champion_model=f"{endpoint}-v1-abcdef12",
        champion_config=f"{endpoint}-v1-abcdef12", champion_package_arn=package + "1",
        challenger_variant=variants[1], challenger_model=f"{endpoint}-v2-{experiment_id[:8]}",
        challenger_package_arn=package + "2", challenger_package_version=2,
        config=f"{endpoint}-v2-{experiment_id[:8]}",
        started_at=start.isoformat(timespec="seconds"))
    s3.put_object(Bucket=bucket, Key=experiment.key("experiments", STARTED),
                  Body=json.dumps({"experiment": asdict(experiment)}).encode())
    return f"experiments/{endpoint}/{experiment_id}/{VERDICT}"


def put_experiment_traffic(s3, bucket: str, endpoint: str, variants: tuple[str, str], start,
                           *, days: int = 5, per_day: int = 40, labelled_frauds=None,
                           capture_prefix: str = "data-capture", labels_to=None,
                           labels_prefix: str = "ground-truth", live: bool = False) -> dict:
    """A shadow experiment's traffic as SageMaker captures it: the same requests (one row each,
    the caller's InferenceId) under both variants' folders, one JSON Lines file per variant and
    day (capture.record_line, the documented line). Every 5th transaction is a fraud of amount
    100, which the champion lets through and the challenger flags; nothing else is flagged.
    Labels (all, or only the first `labelled_frauds` frauds and every legitimate one) are filed
    the day after the last, in labels_to = (s3 client, bucket) when the labels are elsewhere.
    Returns the counts written. live: the live phase's traffic instead, each request captured
    only under the variant that served it (odd-numbered ones the challenger: half of each's
    frauds)."""
    from datetime import timedelta

    from pipeline_src import capture
    from pipeline_src.contract import csv_text, example_rows, feature_names

    amount = feature_names().index("amount")
    lines = {variant: {} for variant in variants}
    labels, frauds = ["inference_id,row,is_fraud"], 0
    for day in range(days):
        for n in range(per_day):
            when = start + timedelta(days=day + 1, minutes=n)
            fraud = n % 5 == 0
            row = list(example_rows(1)[0])
            row[amount] = 100.0 if fraud else 20.0
            inference_id = f"t{day:03d}-{n:03d}"
            for index, (variant, flags) in enumerate(zip(variants, (False, fraud))):
                if live and index != n % 2:
                    continue
                output = json.dumps({"predictions": [{"probability": 0.9 if flags else 0.1,
                                                      "label": int(flags)}]})
                lines[variant].setdefault(when.strftime("%Y/%m/%d/%H"), []).append(
                    capture.record_line(csv_text([row]), "text/csv", output, when,
                                        f"{variant}-{inference_id}", inference_id))
            if not fraud or labelled_frauds is None or frauds < labelled_frauds:
                labels.append(f"{inference_id},1,{int(fraud)}")
                frauds += fraud
    for variant, hours in lines.items():
        for hour, hour_lines in hours.items():
            s3.put_object(Bucket=bucket, Key=f"{capture_prefix}/{endpoint}/{variant}/{hour}/"
                                             "00-00-000-traffic.jsonl",
                          Body=("\n".join(hour_lines) + "\n").encode())
    filed = start + timedelta(days=days + 1)
    labels_s3, labels_bucket = labels_to or (s3, bucket)
    labels_s3.put_object(Bucket=labels_bucket, Key=f"{labels_prefix}/{endpoint}/{filed:%Y/%m/%d}/labels.csv",
                  Body=("\n".join(labels) + "\n").encode())
    return {"transactions": days * per_day, "labelled_frauds": frauds}
