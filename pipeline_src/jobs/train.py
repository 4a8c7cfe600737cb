"""Train job (CodeBuild): contract check -> SageMaker training job -> register model package.

    python -m pipeline_src.jobs.train [--output-dir DIR]

Settings come from the environment (docs/interfaces.md). Writes DIR/model_package.json, the
Train stage's output artifact.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pipeline_src import SKLEARN_FRAMEWORK_VERSION, SKLEARN_VERSION
from pipeline_src.contract import SPLITS, read_csv
from pipeline_src.jobs import common
from pipeline_src.jobs.common import JobError, SettingsError, aws_call, join_s3

REQUIRED = (
    "RESOURCE_PREFIX", "DATA_S3_URI", "TRAINING_OUTPUT_S3_URI", "MODEL_PACKAGE_GROUP",
    "SAGEMAKER_EXECUTION_ROLE_ARN", "KMS_KEY_ARN", "SKLEARN_FRAMEWORK_VERSION",
    "TRAINING_INSTANCE_TYPE", "TRAINING_INSTANCE_COUNT", "TRAINING_VOLUME_SIZE_GB",
    "TRAINING_MAX_RUNTIME_SECONDS", "HYPERPARAMETERS", "INFERENCE_INSTANCE_TYPES", "AWS_REGION",
    "TRAINING_JOB_TAGS",
)
TERMINAL = ("Completed", "Failed", "Stopped")
CODE_CHANNEL_DIR = "/opt/ml/input/data/code"
# What the pipeline tells this job about the revision it builds, when its source is a git
# repository: environment variable -> the source action's output variable (infra passes
# #{SourceVariables.<variable>} in the Train action's EnvironmentVariables). With the S3 source
# none is set; the revision is then CodeBuild's resolved source version (the object version).
SOURCE_VARIABLES = {"SOURCE_COMMIT": "CommitId", "SOURCE_REPOSITORY": "FullRepositoryName",
                    "SOURCE_BRANCH": "BranchName"}
# The commit and repository, as the training job's environment and the package's metadata
# record them.
COMMIT_PROPERTY = "source_commit"
REPOSITORY_PROPERTY = "source_repository"
BRANCH_PROPERTY = "source_branch"
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
METRIC_NAMES = ("validation_roc_auc", "validation_pr_auc", "validation_precision",
                "validation_recall", "validation_f1")


def parse_hyperparameters(text: str) -> dict:
    value = common.json_setting("HYPERPARAMETERS", text)
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float))
                                              for v in value.values()):
        raise SettingsError("HYPERPARAMETERS must be a JSON object of strings")
    from pipeline_src.train import check_hyperparameters

    try:
        # The entry point's own definitions: refuse here, before a training job is paid for.
        return check_hyperparameters({str(k): str(v) for k, v in value.items()})
    except ValueError as exc:
        raise SettingsError(f"HYPERPARAMETERS: {exc}") from None


def parse_tags(text: str) -> list[dict]:
    """TRAINING_JOB_TAGS: the tags infra requires on every training job this build starts (its
    role may only create and watch jobs carrying them), a JSON object of strings."""
    value = common.json_setting("TRAINING_JOB_TAGS", text)
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SettingsError("TRAINING_JOB_TAGS must be a non-empty JSON object of strings")
    return [{"Key": k, "Value": v} for k, v in sorted(value.items())]


# Set by infra when the environment has a `network`: the training job's VpcConfig (its subnets and
# security groups), as CreateTrainingJob takes it. Unset: the job runs outside any VPC.
VPC_CONFIG_ENV = "TRAINING_VPC_CONFIG"
_VPC_KEYS = {"Subnets": "subnet-", "SecurityGroupIds": "sg-"}


def parse_vpc_config(text: str) -> dict | None:
    """TRAINING_VPC_CONFIG: {"Subnets": [...], "SecurityGroupIds": [...]}; empty: no VPC."""
    if not text.strip():
        return None
    value = common.json_setting(VPC_CONFIG_ENV, text)
    valid = isinstance(value, dict) and set(value) == set(_VPC_KEYS) and all(
        isinstance(value[key], list) and 1 <= len(value[key]) <= 16
        and all(isinstance(i, str) and i.startswith(prefix) for i in value[key])
        for key, prefix in _VPC_KEYS.items())
    if not valid:
        raise SettingsError(f"{VPC_CONFIG_ENV} must be a JSON object with Subnets (subnet-...) "
                            "and SecurityGroupIds (sg-...), 1-16 of each")
    return {key: list(value[key]) for key in _VPC_KEYS}


def source_of(environ) -> dict:
    """{commit, repository, branch} the pipeline passed (SOURCE_VARIABLES), empty with the S3
    source. A commit that is not a git object name is refused: it would be recorded as one."""
    source = {}
    for env, key in (("SOURCE_COMMIT", COMMIT_PROPERTY), ("SOURCE_REPOSITORY",
                                                         REPOSITORY_PROPERTY),
                     ("SOURCE_BRANCH", BRANCH_PROPERTY)):
        value = environ.get(env, "").strip()
        if value:
            source[key] = value
    commit = source.get(COMMIT_PROPERTY)
    if commit is not None and not _GIT_COMMIT.fullmatch(commit):
        raise SettingsError(f"SOURCE_COMMIT={commit[:80]!r} is not a git commit id (40 or 64 "
                            "lowercase hex digits)")
    if source and commit is None:
        raise SettingsError("SOURCE_REPOSITORY/SOURCE_BRANCH set without SOURCE_COMMIT")
    return source


def check_data(s3, data_uri: str, workdir: Path) -> dict:
    """Download every split and check it against the contract before anything is started.
    Returns each split's S3 object version (the bucket is versioned): the package records them
    so the monitor compares traffic with the exact data the model was trained on."""
    versions = {}
    for name in SPLITS:
        uri = join_s3(data_uri, f"{name}.csv")
        bucket, key = common.split_s3_uri(uri)
        response = aws_call(s3, "GetObject", Bucket=bucket, Key=key)
        path = workdir / "data" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(response["Body"].read())
        read_csv(path)
        versions[name] = response.get("VersionId") or "null"
        print(f"contract ok: {uri} (version {versions[name]})")
    return versions


def training_job_request(settings: dict, name: str, hyperparameters: dict, image: str,
                         source_uri: str, source: dict | None = None,
                         vpc_config: dict | None = None) -> dict:
    """CreateTrainingJob request, with script-mode settings as the SageMaker SDK passes them."""
    data_uri = settings["DATA_S3_URI"]
    kms = settings["KMS_KEY_ARN"]
    hps = {k: json.dumps(v) for k, v in hyperparameters.items()}
    hps.update({
        "sagemaker_program": json.dumps(common.TRAIN_PROGRAM),
        # Network isolation: the container cannot reach S3, so the bundle arrives as a channel.
        "sagemaker_submit_directory": json.dumps(f"{CODE_CHANNEL_DIR}/sourcedir.tar.gz"),
        "sagemaker_container_log_level": "20",
        "sagemaker_region": json.dumps(settings["AWS_REGION"]),
    })

    def channel(channel_name: str, uri: str, content_type: str) -> dict:
        return {"ChannelName": channel_name, "ContentType": content_type, "InputMode": "File",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                                "S3DataDistributionType": "FullyReplicated"}}}

    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": m, "Regex": f"{m}=([0-9.eE+-]+)"} for m in METRIC_NAMES],
        },
        "RoleArn": settings["SAGEMAKER_EXECUTION_ROLE_ARN"],
        "HyperParameters": hps,
        "InputDataConfig": [
            channel("train", join_s3(data_uri, "train.csv"), "text/csv"),
            channel("validation", join_s3(data_uri, "validation.csv"), "text/csv"),
            channel("code", source_uri, "application/x-tar"),
        ],
        "OutputDataConfig": {"S3OutputPath": settings["TRAINING_OUTPUT_S3_URI"], "KmsKeyId": kms},
        "ResourceConfig": {
            "InstanceType": settings["TRAINING_INSTANCE_TYPE"],
            "InstanceCount": common.env_int(settings, "TRAINING_INSTANCE_COUNT"),
            "VolumeSizeInGB": common.env_int(settings, "TRAINING_VOLUME_SIZE_GB"),
            "VolumeKmsKeyId": kms,
        },
        "StoppingCondition": {
            "MaxRuntimeInSeconds": common.env_int(settings, "TRAINING_MAX_RUNTIME_SECONDS")},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        # In the environment's private subnets: SageMaker moves the channels and the model
        # through the network's S3 endpoint; the container itself stays isolated.
        **({"VpcConfig": vpc_config} if vpc_config else {}),
        "Tags": parse_tags(settings["TRAINING_JOB_TAGS"]),
        # The commit the job trained from, in its description (DescribeTrainingJob returns it);
        # the entry point does not read it.
        **({"Environment": {f"MLOPS_{k.upper()}": v for k, v in sorted(source.items())}}
           if source else {}),
    }


def wait_for_training(sm, name: str, poll_seconds: float, timeout_seconds: float) -> dict:
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        job = aws_call(sm, "DescribeTrainingJob", TrainingJobName=name)
        status = job["TrainingJobStatus"]
        if (status, job.get("SecondaryStatus")) != last:
            last = (status, job.get("SecondaryStatus"))
            print(f"training job {name}: {status} ({job.get('SecondaryStatus', '')})")
        if status in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise JobError(f"training job {name} still {status} after {timeout_seconds:.0f} s")
        time.sleep(poll_seconds)
    if status != "Completed":
        reason = " ".join(str(job.get("FailureReason", "no reason given")).split())
        raise JobError(f"training job {name} {status}: {reason}")
    return job


def read_model_metadata(s3, model_data_url: str, workdir: Path) -> dict:
    tarball = common.download(s3, model_data_url, workdir / "model.tar.gz")
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.extractfile("metadata.json")
            return json.loads(member.read())
    except (tarfile.TarError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise JobError(f"{model_data_url}: no readable metadata.json in the model artifact "
                       f"({type(exc).__name__})") from None


def model_package_request(settings: dict, name: str, model_data_url: str, source_uri: str,
                          inference_image: str, metrics_uri: str, metadata: dict,
                          revision: str, data_versions: dict | None = None,
                          source: dict | None = None) -> dict:
    metrics = metadata.get("training_metrics", {})
    properties = {
        "source_revision": revision,
        # The commit, repository and branch of a git source (the deploy step tags the endpoint
        # config with the commit).
        **(source or {}),
        "data_location": settings["DATA_S3_URI"],
        "training_job_name": name,
        # The code that trained it; the model artifact carries the serving part (code/).
        "source_bundle": source_uri,
        "sklearn_version": str(metadata.get("sklearn_version")),
        "threshold": f"{metadata.get('threshold', 0):.6f}",
        **{m: f"{metrics[m]:.6f}" for m in METRIC_NAMES if m in metrics},
        # pipeline_src/jobs/monitor.py reads data_version_train to fetch the reference data.
        **{f"data_version_{split}": version for split, version in (data_versions or {}).items()},
    }
    instance_types = [t.strip() for t in settings["INFERENCE_INSTANCE_TYPES"].split(",") if t.strip()]
    return {
        "ModelPackageGroupName": settings["MODEL_PACKAGE_GROUP"],
        "ModelPackageDescription": f"Trained by {name} from {settings['DATA_S3_URI']} "
                                   f"at revision {revision}"[:1024],
        "InferenceSpecification": {
            "Containers": [{
                "Image": inference_image,
                "ModelDataUrl": model_data_url,
                "Environment": common.serving_environment(settings["AWS_REGION"]),
            }],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": instance_types,
        },
        "ModelApprovalStatus": "PendingManualApproval",
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": metrics_uri}}},
        "CustomerMetadataProperties": {k: v[:256] for k, v in properties.items()},
    }


def image_uri(region: str, scope: str, instance_type: str) -> str:
    try:
        from sagemaker.core import image_uris

        return image_uris.retrieve("sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION,
                                   image_scope=scope, instance_type=instance_type)
    except ValueError as exc:
        raise JobError(f"no SageMaker scikit-learn {scope} image for {SKLEARN_FRAMEWORK_VERSION} "
                       f"in {region}: {' '.join(str(exc).split())}") from None


def run_job(output_dir: Path, environ=None, session=None, now=None, poll_seconds=30.0) -> int:
    import boto3
    import os

    environ = os.environ if environ is None else environ
    settings = common.require_env(REQUIRED, environ)
    if settings["SKLEARN_FRAMEWORK_VERSION"] != SKLEARN_FRAMEWORK_VERSION:
        raise SettingsError(f"SKLEARN_FRAMEWORK_VERSION is {settings['SKLEARN_FRAMEWORK_VERSION']} "
                            f"but pipeline_src is pinned to {SKLEARN_FRAMEWORK_VERSION}")
    hyperparameters = parse_hyperparameters(settings["HYPERPARAMETERS"])
    vpc_config = parse_vpc_config(environ.get(VPC_CONFIG_ENV, ""))
    source = source_of(environ)
    revision = (source.get(COMMIT_PROPERTY)
                or environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION", "").strip() or "local")
    session = session or boto3.session.Session(region_name=settings["AWS_REGION"])
    s3, sm = common.clients(session, "s3", "sagemaker")
    region = settings["AWS_REGION"]

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data_versions = check_data(s3, settings["DATA_S3_URI"], workdir)
        name = common.training_job_name(settings["RESOURCE_PREFIX"], revision,
                                        now or datetime.now(timezone.utc))
        source_prefix = join_s3(settings["TRAINING_OUTPUT_S3_URI"], name, "source")
        source_uri = join_s3(source_prefix, "sourcedir.tar.gz")
        common.upload_bytes(s3, source_uri, common.sourcedir_bytes(), settings["KMS_KEY_ARN"],
                            "application/gzip")
        training_image = image_uri(region, "training", settings["TRAINING_INSTANCE_TYPE"])
        first_inference_type = settings["INFERENCE_INSTANCE_TYPES"].split(",")[0].strip()
        inference_image = image_uri(region, "inference", first_inference_type)

        request = training_job_request(settings, name, hyperparameters, training_image,
                                       source_prefix, source, vpc_config)
        aws_call(sm, "CreateTrainingJob", **request)
        print(f"started training job {name} ({training_image})")
        timeout = request["StoppingCondition"]["MaxRuntimeInSeconds"] + 3600
        job = wait_for_training(sm, name, poll_seconds, timeout)
        model_data_url = job["ModelArtifacts"]["S3ModelArtifacts"]

        metadata = read_model_metadata(s3, model_data_url, workdir)
        if metadata.get("sklearn_version") != SKLEARN_VERSION:
            raise JobError(f"model was trained with scikit-learn {metadata.get('sklearn_version')} "
                           f"but the pipeline is pinned to {SKLEARN_VERSION}")
        metrics_uri = join_s3(settings["TRAINING_OUTPUT_S3_URI"], name, "metrics",
                              "training_metrics.json")
        common.upload_bytes(s3, metrics_uri, json.dumps(metadata.get("training_metrics", {}),
                                                        indent=2).encode(),
                            settings["KMS_KEY_ARN"], "application/json")
        package = aws_call(sm, "CreateModelPackage", **model_package_request(
            settings, name, model_data_url, source_uri, inference_image, metrics_uri, metadata,
            revision, data_versions, source))

    arn = package["ModelPackageArn"]
    common.write_json(output_dir / "model_package.json", {
        "model_package_arn": arn, "model_data_url": model_data_url, "training_job_name": name})
    print(f"registered {arn} (PendingManualApproval)")
    print(f"wrote {output_dir / 'model_package.json'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_src.jobs.train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="job-output", type=Path)
    parser.add_argument("--poll-seconds", default=30.0, type=float)
    args = parser.parse_args(argv)
    return common.run(lambda: run_job(args.output_dir, poll_seconds=args.poll_seconds))


if __name__ == "__main__":
    sys.exit(main())
