"""The monitor job with prod's layout (config/prod.json): the registry, training data, labels,
reports and metrics in the tooling account, each stage's endpoint and data capture in its own
account, read there as that account's monitor reader role.

moto keeps resources per account, and credentials from AssumeRole act in the assumed role's
account (moto's documentation, "Multi-Account support",
https://docs.getmoto.org/en/latest/docs/multi_account.html). The job runs with credentials of
the tooling account's monitor job role; AWS's side of each AssumeRole (the reader's trust policy
admits exactly that role with the ExternalId) and of each call (the reader's grants) is judged on
the synthesized stacks by tests/infra/test_iam_cross_account.py, from the calls recorded here.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from infra.config import load_environment
from infra.naming import Names
from pipeline_src.jobs import monitor as monitor_job
from pipeline_src.jobs.common import JobError
from tests import moto_accounts
from tests.pipeline_src.conftest import (REGION, monitor_job_environment, serve_package,
                                         shifted_capture, tarball)

CONFIG = load_environment("prod")
NAMES = Names(CONFIG)
PREFIX = NAMES.prefix
TOOLING = CONFIG.account_id
ACCOUNTS = {s.name: s.account_id for s in CONFIG.stages}
STAGING = ACCOUNTS["staging"]
ENDPOINT = NAMES.endpoint("staging")
TOOLING_BUCKET = NAMES.artifact_bucket(TOOLING)
STAGE_BUCKET = NAMES.artifact_bucket(STAGING)
WINDOW_END = datetime(2026, 11, 22, 7, 10, tzinfo=timezone.utc)   # window 06:00-07:00
PROD = ACCOUNTS["prod"]
PROD_ENDPOINT = NAMES.endpoint("prod")
(SECONDARY,) = CONFIG.stage("prod").secondary_regions
PROD_BUCKET = NAMES.artifact_bucket(PROD)
PROD_REGIONAL_BUCKET = NAMES.artifact_bucket(PROD, SECONDARY)


def reader(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{NAMES.role('monitor-reader')}"


def monitor_environment(**overrides) -> dict:
    """What infra/monitoring.py gives the prod monitor job (tests/infra/test_monitoring.py
    checks the synthesized project carries the same)."""
    return monitor_job_environment(
        endpoints=[NAMES.endpoint(s) for s in ACCOUNTS], bucket=TOOLING_BUCKET,
        group=NAMES.model_package_group, namespace=NAMES.metric_namespace,
        kms_key_arn=f"arn:aws:kms:{REGION}:{TOOLING}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        readers={NAMES.endpoint(s): reader(a) for s, a in ACCOUNTS.items()},
        regions={NAMES.endpoint(s.name): tuple(s.secondary_regions) for s in CONFIG.stages
                 if s.secondary_regions},
        external_id=NAMES.monitor_external_id, CODEBUILD_BUILD_NUMBER="17", **overrides)


@pytest.fixture(scope="module")
def capture_dir(model_dir, tmp_path_factory):
    return shifted_capture(tmp_path_factory, model_dir, ENDPOINT, rows=400)


def acting_as(account: str, purpose: str):
    """A session of this environment's role `purpose` in `account`."""
    return moto_accounts.acting_as(account, NAMES.role(purpose), REGION)


@pytest.fixture
def accounts(monkeypatch, data_dir, model_dir, capture_dir):
    """Tooling: versioned bucket with train.csv, the model artifact, a registered package that
    records the data version, labels. Staging: the endpoint the deploy step would have built from
    that package, with its capture in the staging account's bucket and key. Prod: nothing yet.
    Returns the job's session (the tooling monitor role's) and the package ARN."""
    from moto import mock_aws

    moto_accounts.fake_credentials(monkeypatch, REGION)
    with mock_aws():
        job = acting_as(TOOLING, "codebuild-monitor")
        s3, sm = job.client("s3"), job.client("sagemaker")
        location = {"LocationConstraint": REGION}
        s3.create_bucket(Bucket=TOOLING_BUCKET, CreateBucketConfiguration=location)
        s3.put_bucket_versioning(Bucket=TOOLING_BUCKET,
                                 VersioningConfiguration={"Status": "Enabled"})
        version = s3.put_object(Bucket=TOOLING_BUCKET, Key="data/train.csv",
                                Body=(data_dir / "train.csv").read_bytes())["VersionId"]
        artifact = f"training/{PREFIX}-20261122T024900-abcdef12/output/model.tar.gz"
        s3.put_object(Bucket=TOOLING_BUCKET, Key=artifact, Body=tarball(model_dir))
        s3.put_object(Bucket=TOOLING_BUCKET, Key=f"ground-truth/{ENDPOINT}/2026/11/22/labels.csv",
                      Body=(capture_dir / "labels.csv").read_bytes())
        sm.create_model_package_group(ModelPackageGroupName=NAMES.model_package_group)
        package_arn = sm.create_model_package(
            ModelPackageGroupName=NAMES.model_package_group, ModelApprovalStatus="Approved",
            CustomerMetadataProperties={"data_version_train": version},
            InferenceSpecification={"Containers": [{
                "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/"
                         "sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
                "ModelDataUrl": f"s3://{TOOLING_BUCKET}/{artifact}"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]

        stage = acting_as(STAGING, "deployer")
        stage_s3, stage_sm = stage.client("s3"), stage.client("sagemaker")
        stage_s3.create_bucket(Bucket=STAGE_BUCKET, CreateBucketConfiguration=location)
        stage_key = stage.client("kms").create_key()["KeyMetadata"]["Arn"]
        serve_package(stage_sm, ENDPOINT, package_arn,
                      f"arn:aws:iam::{STAGING}:role/{NAMES.role('sagemaker-serving')}",
                      f"s3://{STAGE_BUCKET}/data-capture", kms_key_arn=stage_key)
        for path in sorted((capture_dir / ENDPOINT).rglob("*.jsonl")):
            stage_s3.put_object(
                Bucket=STAGE_BUCKET, Body=path.read_bytes(),
                Key=f"data-capture/{path.relative_to(capture_dir).as_posix()}",
                ServerSideEncryption="aws:kms", SSEKMSKeyId=stage_key)
        yield job, package_arn


def put_capture(session, region: str, bucket: str, capture: Path, key_arn: str) -> None:
    s3 = session.client("s3", region_name=region)
    for path in sorted(capture.rglob("*.jsonl")):
        s3.put_object(Bucket=bucket, Key=f"data-capture/{path.relative_to(capture).as_posix()}",
                      Body=path.read_bytes(), ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)


@pytest.fixture(scope="module")
def steady_capture(model_dir, tmp_path_factory):
    """prod's primary region's traffic in the window: the sample traffic, unshifted."""
    from pipeline_src import sample_capture

    out = tmp_path_factory.mktemp("steady")
    assert sample_capture.main(["--out", str(out), "--rows", "400", "--seed", "11",
                                "--start", "2026-11-22T06:00", "--endpoint", PROD_ENDPOINT,
                                "--model", str(model_dir)]) == 0
    return out


@pytest.fixture(scope="module")
def drifted_capture(model_dir, tmp_path_factory):
    """prod's secondary region's traffic in the window: `amount` scaled by 1.5."""
    return shifted_capture(tmp_path_factory, model_dir, PROD_ENDPOINT, rows=400)


@pytest.fixture
def prod_in_two_regions(accounts, steady_capture, drifted_capture):
    """prod's endpoint as the deploy step leaves it in both regions (lambda_deploy/regions.py):
    the primary's model is the package, the secondary's the package's container with that
    region's image and a copy of the artifact, its config tagged with the package; each
    region's capture in that region's bucket, encrypted with that region's key. Steady traffic
    in the primary, drifted traffic in the secondary; both regions' labels in the tooling
    account, under the endpoint."""
    job, package_arn = accounts
    stage = acting_as(PROD, "deployer")
    serving_role = f"arn:aws:iam::{PROD}:role/{NAMES.role('sagemaker-serving')}"
    tooling_s3 = job.client("s3")
    for region, bucket, capture in ((REGION, PROD_BUCKET, steady_capture),
                                    (SECONDARY, PROD_REGIONAL_BUCKET, drifted_capture)):
        stage.client("s3", region_name=region).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        key = stage.client("kms", region_name=region).create_key()["KeyMetadata"]["Arn"]
        sm = stage.client("sagemaker", region_name=region)
        if region == REGION:
            serve_package(sm, PROD_ENDPOINT, package_arn, serving_role,
                          f"s3://{bucket}/data-capture", kms_key_arn=key)
        else:
            serve_copy(sm, package_arn, serving_role, bucket, key)
        put_capture(stage, region, bucket, capture, key)
        tooling_s3.put_object(Bucket=TOOLING_BUCKET, Key=f"ground-truth/{PROD_ENDPOINT}/2026/11/"
                              f"22/labels-{region}.csv",
                              Body=(capture / "labels.csv").read_bytes())
    return job, package_arn


def serve_copy(sm, package_arn: str, role_arn: str, bucket: str, key_arn: str) -> None:
    """A secondary region's endpoint as lambda_deploy/regions.py builds it."""
    from lambda_deploy.deploy import TAG_PACKAGE_ARN
    from lambda_deploy.settings import DEFAULT_VARIANT

    name = f"{PROD_ENDPOINT}-v1-abcdef12"
    sm.create_model(ModelName=name, ExecutionRoleArn=role_arn, Containers=[{
        "Image": "492215442770.dkr.ecr.eu-central-1.amazonaws.com/"
                 "sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
        "ModelDataUrl": f"s3://{bucket}/models/{NAMES.model_package_group}/v1/model.tar.gz"}])
    sm.create_endpoint_config(
        EndpointConfigName=name, Tags=[{"Key": TAG_PACKAGE_ARN, "Value": package_arn}],
        ProductionVariants=[{"VariantName": DEFAULT_VARIANT, "ModelName": name,
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{bucket}/data-capture", "KmsKeyId": key_arn,
                           "CaptureOptions": [{"CaptureMode": "Input"},
                                              {"CaptureMode": "Output"}]})
    sm.create_endpoint(EndpointName=PROD_ENDPOINT, EndpointConfigName=name)


def test_each_region_of_a_stage_is_read_there_and_reported_with_its_region(prod_in_two_regions,
                                                                           tmp_path):
    """prod serves from eu-west-1 and eu-central-1: each region's capture is read in that
    region's bucket as prod's reader, analysed against the package the region serves (the
    secondary's by its config's package tag), and reported with its region: the drift of the
    secondary region's traffic is not averaged away by the primary's steady traffic."""
    from tests.iam import recorder

    job, package_arn = prod_in_two_regions
    first = len(recorder.CALLS)
    assert monitor_job.run_job(PROD_ENDPOINT, WINDOW_END, tmp_path,
                               environ=monitor_environment(), session=job) == 0
    tooling_s3 = job.client("s3")

    def summary(*where):
        key = "/".join(("monitoring", PROD_ENDPOINT, *where, "20261122T06-1h", "summary.json"))
        return json.loads(tooling_s3.get_object(Bucket=TOOLING_BUCKET, Key=key)["Body"].read())

    primary, secondary = summary(), summary(SECONDARY)
    assert (primary["region"], secondary["region"]) == (REGION, SECONDARY)
    assert primary["model_package_arn"] == secondary["model_package_arn"] == package_arn
    assert (primary["rows"], secondary["rows"]) == (400, 400)
    # Each region's labels matched its own traffic only.
    assert (primary["labels_matched"], secondary["labels_matched"]) == (400, 400)
    assert secondary["drift_detected"] is True and "amount" in secondary["drifted_features"]
    assert "amount" not in primary["drifted_features"]
    # One DriftDetected series per region, each with its own value.
    cw = job.client("cloudwatch")
    drift = {}
    for region in (REGION, SECONDARY):
        points = cw.get_metric_statistics(
            Namespace=NAMES.metric_namespace, MetricName="DriftDetected",
            Dimensions=[{"Name": "EndpointName", "Value": PROD_ENDPOINT},
                        {"Name": "Region", "Value": region}],
            StartTime=datetime(2026, 11, 22, 6, tzinfo=timezone.utc),
            EndTime=datetime(2026, 11, 22, 8, tzinfo=timezone.utc), Period=3600,
            Statistics=["Maximum"])["Datapoints"]
        drift[region] = [p["Maximum"] for p in points]
    assert drift[SECONDARY] == [1.0] and drift[REGION] == [float(primary["drift_detected"])]
    # In prod's account, as its reader, in each region: the chain and capture there (and the
    # secondary config's tags); one AssumeRole for both regions.
    in_prod = {}
    for call in recorder.CALLS[first:]:
        if call.account == PROD:
            in_prod.setdefault(call.region, set()).add((call.service, call.operation))
    chain = {("sagemaker", "DescribeEndpoint"), ("sagemaker", "DescribeEndpointConfig"),
             ("sagemaker", "DescribeModel"), ("s3", "ListObjectsV2"), ("s3", "GetObject")}
    assert in_prod == {REGION: chain | {("sts", "GetCallerIdentity")},
                       SECONDARY: chain | {("sagemaker", "ListTags")}}
    assert [c.operation for c in recorder.CALLS[first:]].count("AssumeRole") == 1


def test_a_region_without_the_endpoint_is_skipped_there(accounts, tmp_path, capsys):
    """prod not deployed anywhere yet: looked up in both regions, skipped in both."""
    job, _ = accounts
    assert monitor_job.run_job(PROD_ENDPOINT, WINDOW_END, tmp_path,
                               environ=monitor_environment(), session=job) == 0
    out = capsys.readouterr().out
    assert f"{PROD_ENDPOINT}: no such endpoint" in out
    assert f"{PROD_ENDPOINT} ({SECONDARY}): no such endpoint" in out


def test_the_monitor_reads_a_stage_account_endpoint_as_its_reader(accounts, tmp_path, capsys):
    """Staging's endpoint is analysed from its account's capture; prod's (not deployed yet) is
    looked up in prod's account and skipped."""
    from tests.iam import recorder

    job, package_arn = accounts
    assumed = []
    job.events.register("before-call.sts.AssumeRole",
                        lambda params, **_: assumed.append(dict(params["body"])) and None)
    first = len(recorder.CALLS)
    assert monitor_job.run_job(None, WINDOW_END, tmp_path, environ=monitor_environment(),
                               session=job) == 0
    # (account, service, operation) of every call the job made: the IAM recorder's, whose account
    # is moto's, from the access key that signed the call.
    calls = [(c.account, c.service, c.operation) for c in recorder.CALLS[first:]]

    out = capsys.readouterr().out
    assert f"{NAMES.endpoint('prod')}: no such endpoint" in out
    # The analysis is of the staging account's endpoint and capture.
    tooling_s3 = job.client("s3")
    prefix = f"monitoring/{ENDPOINT}/20261122T06-1h/"
    summary = json.loads(tooling_s3.get_object(Bucket=TOOLING_BUCKET,
                                               Key=prefix + "summary.json")["Body"].read())
    assert summary["model_package_arn"] == package_arn
    assert summary["rows"] == 400 and summary["contract_violations"] == 0
    assert summary["drift_detected"] is True and "amount" in summary["drifted_features"]
    assert summary["labels_matched"] == 400
    # Metrics are published in the tooling account, where the alarms are.
    metrics = job.client("cloudwatch").list_metrics(Namespace=NAMES.metric_namespace)["Metrics"]
    assert [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in metrics
            if m["MetricName"] == "DriftDetected"] == [{"EndpointName": ENDPOINT,
                                                        "Region": REGION}]

    # With each stage account's credentials: GetCallerIdentity (the check), the endpoint chain
    # and the capture; nothing else. Everything else in the tooling account.
    by_account = {}
    for account, service, operation in calls:
        by_account.setdefault(account, set()).add((service, operation))
    assert set(by_account) == {TOOLING, STAGING, ACCOUNTS["prod"]}
    assert by_account[STAGING] == {
        ("sts", "GetCallerIdentity"), ("sagemaker", "DescribeEndpoint"),
        ("sagemaker", "DescribeEndpointConfig"), ("sagemaker", "DescribeModel"),
        ("s3", "ListObjectsV2"), ("s3", "GetObject")}
    # prod has no endpoint yet: described (in both its regions), found missing, nothing more.
    assert by_account[ACCOUNTS["prod"]] == {("sts", "GetCallerIdentity"),
                                            ("sagemaker", "DescribeEndpoint")}
    assert ("sagemaker", "DescribeModelPackage") in by_account[TOOLING]
    assert not {(s, o) for s, o in by_account[TOOLING] if s == "sagemaker"} - {
        ("sagemaker", "DescribeModelPackage")}
    # One AssumeRole per endpoint elsewhere, of its account's reader, with the ExternalId and
    # the build in the session name (CloudTrail there shows which run read).
    assert [(a["RoleArn"], a["ExternalId"], a["RoleSessionName"]) for a in assumed] == [
        (reader(ACCOUNTS[s]), NAMES.monitor_external_id, "monitor-17") for s in ACCOUNTS]


def test_an_experiment_elsewhere_is_judged_from_its_accounts_capture(accounts, tmp_path):
    """Champion vs challenger on staging's endpoint: both variants' capture is read in the
    staging account as its reader (the same calls as the window's: nothing more is granted
    there); the start record, the labels and the verdict are the tooling account's."""
    from pipeline_src.jobs.monitor_settings import ExperimentRule
    from tests.iam import recorder
    from tests.pipeline_src.conftest import put_experiment_start, put_experiment_traffic

    job, _ = accounts
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    tooling_s3 = job.client("s3")
    key = put_experiment_start(tooling_s3, TOOLING_BUCKET, ENDPOINT, "e0000003", start)
    put_experiment_traffic(acting_as(STAGING, "deployer").client("s3"), STAGE_BUCKET, ENDPOINT,
                           ("AllTraffic", "Challenger"), start,
                           labels_to=(tooling_s3, TOOLING_BUCKET))
    rule = ExperimentRule(label_horizon_days=7, max_days=30, min_labelled_frauds=10,
                          planned_labelled_rows=200)
    first = len(recorder.CALLS)
    assert monitor_job.run_job(ENDPOINT, datetime(2026, 12, 10, 7, tzinfo=timezone.utc),
                               tmp_path, environ=monitor_environment(experiments={ENDPOINT: rule}),
                               session=job) == 0
    verdict = json.loads(tooling_s3.get_object(Bucket=TOOLING_BUCKET, Key=key)["Body"].read())
    assert (verdict["outcome"], verdict["labelled_pairs"]) == ("promote", 200)
    in_staging = {(c.service, c.operation) for c in recorder.CALLS[first:]
                  if c.account == STAGING}
    assert in_staging == {("sts", "GetCallerIdentity"), ("sagemaker", "DescribeEndpoint"),
                          ("sagemaker", "DescribeEndpointConfig"), ("sagemaker", "DescribeModel"),
                          ("s3", "ListObjectsV2"), ("s3", "GetObject")}
    # Decided, then in its live phase (the controller's 6-live record in the tooling account):
    # the live verdict from the same capture, where every request was captured by both variants,
    # so none counts (in the live phase one variant serves each request).
    for step, body in (("2-decided", {"outcome": "promote"}),
                       ("6-live", {"share": 0.1, "started_at": start.isoformat()})):
        tooling_s3.put_object(Bucket=TOOLING_BUCKET, Key=key.replace("verdict.json",
                                                                     f"{step}.json"),
                              Body=json.dumps(body).encode())
    assert monitor_job.run_job(ENDPOINT, datetime(2026, 12, 10, 7, tzinfo=timezone.utc),
                               tmp_path, environ=monitor_environment(experiments={ENDPOINT: rule}),
                               session=job) == 0
    live = json.loads(tooling_s3.get_object(
        Bucket=TOOLING_BUCKET, Key=key.replace("verdict.json", "live-verdict.json"))["Body"].read())
    assert (live["outcome"], live["labelled_rows"], live["counts"]["served_by_both"]) == (
        "continue", 0, 200)


def test_credentials_acting_elsewhere_are_refused_before_any_read(accounts, tmp_path,
                                                                   monkeypatch):
    """The role's ARN names its account, but the credentials are what act: if they act in another
    account, nothing is read with them."""
    import botocore.client

    job, _ = accounts
    original = botocore.client.BaseClient._make_api_call
    stage_calls = []

    def elsewhere(client, operation, params):
        if operation == "GetCallerIdentity":
            return {"Account": "444444444444", "UserId": "AROAEXAMPLE:y",
                    "Arn": "arn:aws:sts::444444444444:assumed-role/x/y"}
        if client.meta.service_model.service_name == "sagemaker":
            stage_calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", elsewhere)
    with pytest.raises(JobError, match=f"role {reader(STAGING)} acts in account 444444444444, "
                                       f"not in its own account {STAGING}"):
        monitor_job.run_job(ENDPOINT, WINDOW_END, tmp_path, environ=monitor_environment(),
                            session=job)
    assert stage_calls == []


@pytest.mark.parametrize("overrides, message", [
    ({"MONITOR_READERS": "[1]"},
     "MONITOR_READERS must be a JSON object of endpoint name -> IAM role ARN"),
    ({"MONITOR_READERS": json.dumps({ENDPOINT: "fraud-mlops-prod-monitor-reader"})},
     "MONITOR_READERS must be a JSON object of endpoint name -> IAM role ARN"),
    ({"MONITOR_READERS": json.dumps({"other": reader(STAGING)})},
     "MONITOR_READERS names endpoint(s) not in MONITOR_ENDPOINTS: other"),
    ({"MONITOR_EXTERNAL_ID": None},
     "missing environment setting(s): MONITOR_EXTERNAL_ID (with MONITOR_READERS)"),
    ({"MONITOR_READERS": "{"}, "MONITOR_READERS is not valid JSON: "),
    ({"MONITOR_REGIONS": json.dumps({PROD_ENDPOINT: "eu-central-1"})},
     "MONITOR_REGIONS must be a JSON object of endpoint name -> list of AWS region names"),
    ({"MONITOR_REGIONS": json.dumps({PROD_ENDPOINT: ["Frankfurt"]})},
     "MONITOR_REGIONS must be a JSON object of endpoint name -> list of AWS region names"),
    ({"MONITOR_READERS": json.dumps({ENDPOINT: reader(STAGING)})},
     f"MONITOR_REGIONS names endpoint(s) without a reader role in MONITOR_READERS: "
     f"{PROD_ENDPOINT}"),
    ({"MONITOR_REGIONS": json.dumps({PROD_ENDPOINT: [SECONDARY, REGION]})},
     f"MONITOR_REGIONS {PROD_ENDPOINT}: {SECONDARY}, {REGION} must be distinct secondary "
     f"regions (not the job's {REGION})"),
])
def test_bad_reader_settings_are_one_line_exit_2(tmp_path, capsys, monkeypatch, overrides,
                                                  message):
    for key, value in monitor_environment(**overrides).items():
        monkeypatch.setenv(key, value)
    for key in set(monitor_environment()) - set(monitor_environment(**overrides)):
        monkeypatch.delenv(key, raising=False)
    assert monitor_job.main(["--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
