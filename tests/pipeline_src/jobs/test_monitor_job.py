"""The monitor job against moto: endpoint -> config -> model -> package -> the recorded version
of the training data; capture and labels in S3; report, summary and metrics out."""
import json
from datetime import datetime, timezone

import pytest

from pipeline_src.jobs import monitor as monitor_job, train as train_job
from pipeline_src.jobs.common import JobError
from tests.pipeline_src import conftest
from tests.pipeline_src.conftest import (BUCKET, GROUP, KMS, ROLE, job_environment,
                                         monitor_job_environment)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WINDOW_END = datetime(2026, 11, 22, 7, 10, tzinfo=timezone.utc)   # window 06:00-07:00
ENDPOINT = "fraud-mlops-dev-staging"
NAMESPACE = "fraud-mlops/Monitoring"


def monitor_environment(**overrides):
    return monitor_job_environment(
        endpoints=[ENDPOINT, "fraud-mlops-dev-prod"], bucket=BUCKET, group=GROUP,
        kms_key_arn=KMS, namespace=NAMESPACE, **overrides)


@pytest.fixture(scope="module")
def shifted_capture(tmp_path_factory, capture_model_dir):
    return conftest.shifted_capture(tmp_path_factory, capture_model_dir, ENDPOINT, rows=1500)


@pytest.fixture
def deployed(aws, fake_training, shifted_capture, data_dir, tmp_path):
    """Versioned bucket, a package trained by the real train job (recording data versions), a
    newer train.csv uploaded afterwards, and the endpoint the deploy step would have built."""
    from tests.pipeline_src.conftest import tarball

    s3, sm = aws.client("s3"), aws.client("sagemaker")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="data/train.csv", Body=(data_dir / "train.csv").read_bytes())
    fake_training["model_dir"] = shifted_capture / "model"
    assert train_job.run_job(tmp_path / "train-out", environ=job_environment(), session=aws,
                             now=NOW, poll_seconds=0) == 0
    package_arn = json.loads((tmp_path / "train-out" / "model_package.json").read_text())[
        "model_package_arn"]
    # New data lands after training: the monitor must still compare with the old version.
    s3.put_object(Bucket=BUCKET, Key="data/train.csv",
                  Body=(data_dir / "train.csv").read_text().splitlines()[0].encode() + b"\n"
                  + b"\n".join(l.encode() for l in
                               (data_dir / "train.csv").read_text().splitlines()[1:101]) + b"\n")
    conftest.serve_package(sm, ENDPOINT, package_arn, ROLE,
                           f"s3://{BUCKET}/data-capture/{ENDPOINT}")
    for path in sorted((shifted_capture / ENDPOINT).rglob("*.jsonl")):
        key = f"data-capture/{ENDPOINT}/{path.relative_to(shifted_capture).as_posix()}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=f"ground-truth/{ENDPOINT}/2026/11/22/labels.csv",
                  Body=(shifted_capture / "labels.csv").read_bytes())
    return package_arn


def test_train_job_records_training_data_versions(aws, deployed):
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    props = sm.describe_model_package(ModelPackageName=deployed)["CustomerMetadataProperties"]
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="data/train.csv")["Versions"]
    (latest,) = [v["VersionId"] for v in versions if v["IsLatest"]]
    # A real version of train.csv, and not the newer upload that landed after training.
    assert props["data_version_train"] in {v["VersionId"] for v in versions}
    assert props["data_version_train"] not in (latest, "null")
    assert {"data_version_validation", "data_version_test"} <= set(props)


def test_monitor_job_reports_drift_on_the_served_models_training_data(aws, deployed, tmp_path,
                                                                       capsys):
    rc = monitor_job.run_job(None, WINDOW_END, tmp_path, environ=monitor_environment(),
                             session=aws)
    assert rc == 0
    out = capsys.readouterr().out
    assert "fraud-mlops-dev-prod: no such endpoint" in out
    s3 = aws.client("s3")
    prefix = f"monitoring/{ENDPOINT}/20261122T06-1h/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    assert {prefix + "summary.json", prefix + "report.html"} <= keys
    head = s3.head_object(Bucket=BUCKET, Key=prefix + "report.html")
    assert head["ServerSideEncryption"] == "aws:kms"
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "summary.json")["Body"].read())
    assert summary["model_package_arn"] == deployed
    assert summary["rows"] == 1500 and summary["contract_violations"] == 0
    assert summary["drift_detected"] is True and "amount" in summary["drifted_features"]
    # The reference is the recorded version (the full split), not the 100-row newer upload.
    assert summary["reference_rows"] > 1000 and "versionId=" in summary["reference"]
    assert summary["labels_matched"] == 1500

    cw = aws.client("cloudwatch")
    metrics = cw.list_metrics(Namespace=NAMESPACE)["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert {"Rows", "ContractViolations", "DriftedFeatureShare", "DriftDetected", "DriftScore",
            "PositiveRate"} <= names
    features = {d["Value"] for m in metrics if m["MetricName"] == "DriftScore"
                for d in m["Dimensions"] if d["Name"] == "Feature"}
    assert {"amount", "probability"} <= features
    stats = cw.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="DriftDetected",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "Region", "Value": conftest.REGION}],
        StartTime=datetime(2026, 11, 22, 6, tzinfo=timezone.utc),
        EndTime=datetime(2026, 11, 22, 8, tzinfo=timezone.utc), Period=3600,
        Statistics=["Maximum"])
    assert [p["Maximum"] for p in stats["Datapoints"]] == [1.0]


def test_window_without_capture_reports_zero_rows(aws, deployed, tmp_path):
    later = datetime(2026, 11, 23, 7, tzinfo=timezone.utc)
    assert monitor_job.run_job(ENDPOINT, later, tmp_path, environ=monitor_environment(),
                               session=aws) == 0
    summary = json.loads((tmp_path / ENDPOINT / "summary.json").read_text())
    assert summary["rows"] == 0 and summary["alert"] is False


def test_package_without_recorded_versions_is_named(aws, tmp_path):
    package = {"ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/x/1",
               "CustomerMetadataProperties": {"source_revision": "abc"}}
    with pytest.raises(JobError, match="has no data_version_train metadata"):
        monitor_job.reference_data(aws.client("s3"), package, f"s3://{BUCKET}/data", tmp_path)


def test_unknown_endpoint_and_missing_settings(aws, tmp_path):
    with pytest.raises(JobError, match="is not monitored here"):
        monitor_job.run_job("other", WINDOW_END, tmp_path, environ=monitor_environment(),
                            session=aws)
    with pytest.raises(JobError, match="missing environment setting.*MONITOR_ROW_CAP"):
        monitor_job.run_job(None, WINDOW_END, tmp_path,
                            environ=monitor_environment(MONITOR_ROW_CAP=None), session=aws)


@pytest.mark.parametrize("overrides, message", [
    ({"MONITOR_ROW_CAP": "lots"}, "environment setting MONITOR_ROW_CAP='lots': Input should be a "
                                  "valid integer"),
    ({"MONITOR_ROW_CAP": "10"}, "environment setting MONITOR_ROW_CAP='10': Input should be "
                                "greater than or equal to 1000"),
    ({"MONITOR_WINDOW_HOURS": "48"}, "environment setting MONITOR_WINDOW_HOURS='48': Input should "
                                     "be less than or equal to 24"),
    ({"MONITOR_ENDPOINTS": " , "}, "environment setting MONITOR_ENDPOINTS=' , ': "),
    ({"GATE_THRESHOLDS": "{}"}, "environment setting GATE_THRESHOLDS='{}': expected an object "
                                "with exactly min_pr_auc"),
    ({"KMS_KEY_ARN": " ", "AWS_REGION": None},
     "missing environment setting(s): KMS_KEY_ARN, AWS_REGION"),
    ({"MONITOR_EXPERIMENTS": "{", "EXPERIMENTS_S3_URI": "s3://b/experiments"},
     "MONITOR_EXPERIMENTS is not valid JSON: "),
    ({"MONITOR_EXPERIMENTS": json.dumps({ENDPOINT: {"max_days": 7, "label_horizon_days": 14}}),
      "EXPERIMENTS_S3_URI": "s3://b/experiments"},
     f"environment setting MONITOR_EXPERIMENTS {ENDPOINT}.max_days: 7 is not above "
     "label_horizon_days 14"),
    ({"MONITOR_EXPERIMENTS": json.dumps({"other": {}}), "EXPERIMENTS_S3_URI": "s3://b/e"},
     "MONITOR_EXPERIMENTS names endpoint(s) not in MONITOR_ENDPOINTS: other"),
    ({"MONITOR_EXPERIMENTS": json.dumps({ENDPOINT: {}})},
     "missing environment setting(s): EXPERIMENTS_S3_URI"),
])
def test_bad_settings_are_one_line_exit_2(tmp_path, capsys, monkeypatch, overrides, message):
    """The job's settings contract (monitor_settings.py) names the variable and its value."""
    for key in monitor_environment():
        monkeypatch.delenv(key, raising=False)
    for key, value in monitor_environment(**overrides).items():
        monkeypatch.setenv(key, value)
    assert monitor_job.main(["--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_the_contract_is_the_configs_and_the_verdicts():
    """One declaration: the config's monitoring section extends the job's analysis settings, the
    verdict's settings are those plus the gate, and infra writes exactly what the job reads
    (but what CodeBuild sets)."""
    from infra.config import MonitoringConfig, load_environment
    from pipeline_src.jobs.monitor_settings import (CODEBUILD_SETS, VARIABLES, ExperimentRule,
                                                    MonitorAnalysis, MonitorSettings)
    from pipeline_src.monitoring import MonitorSettings as verdict_settings

    assert issubclass(MonitoringConfig, MonitorAnalysis) and verdict_settings is MonitorSettings
    for name, field in MonitorAnalysis.model_fields.items():
        assert repr(MonitoringConfig.model_fields[name]) == repr(field)
    config = load_environment("prod")
    settings = MonitorSettings.of(config.monitoring, config.quality_gate.thresholds())
    assert settings.row_cap == config.monitoring.row_cap
    assert settings.gate.min_f1 == config.quality_gate.min_f1
    written = monitor_environment(readers={ENDPOINT: "arn:aws:iam::123456789012:role/r"},
                                  external_id="e", experiments={ENDPOINT: ExperimentRule()},
                                  regions={ENDPOINT: ("eu-central-1",)})
    assert set(written) - {"AWS_REGION"} == {v for f, v in VARIABLES.items()
                                              if f not in CODEBUILD_SETS}
    # The config's experiment section is the job's rule plus what the deploy function reads.
    from infra.config import ExperimentConfig
    from lambda_deploy.settings import ExperimentSettings

    for part in (ExperimentRule, ExperimentSettings):
        assert issubclass(ExperimentConfig, part)
        for name, field in part.model_fields.items():
            assert repr(ExperimentConfig.model_fields[name]) == repr(field), name


# --- champion vs challenger: the verdict the controller acts on -------------------------------

EXPERIMENT_START = datetime(2026, 11, 25, tzinfo=timezone.utc)
VARIANTS = ("AllTraffic", "Challenger")
# The fixture endpoint's capture destination (serve_package): SageMaker adds <endpoint>/<variant>.
CAPTURE_PREFIX = f"data-capture/{ENDPOINT}"


def start_experiment(s3, experiment_id: str) -> str:
    return conftest.put_experiment_start(s3, BUCKET, ENDPOINT, experiment_id, EXPERIMENT_START,
                                         VARIANTS)


def experiment_environment(**rule):
    from pipeline_src.jobs.monitor_settings import ExperimentRule

    rule = ExperimentRule(**{"label_horizon_days": 7, "max_days": 30, "min_labelled_frauds": 10,
                             "planned_labelled_rows": 200, **rule})
    return monitor_environment(experiments={ENDPOINT: rule})


def test_monitor_job_writes_the_verdict_of_a_running_experiment_once_per_input(
        aws, deployed, tmp_path):
    """Both variants' capture since the start (days before the job's one-hour window), the labels
    of those days, paired by inference id: the challenger catches the frauds the champion lets
    through, so it is promoted; the same run again writes the same bytes."""
    s3 = aws.client("s3")
    key = start_experiment(s3, "e0000001")
    written = conftest.put_experiment_traffic(s3, BUCKET, ENDPOINT, VARIANTS, EXPERIMENT_START,
                                              capture_prefix=CAPTURE_PREFIX)
    as_of = datetime(2026, 12, 10, 7, 10, tzinfo=timezone.utc)
    environment = experiment_environment()
    assert monitor_job.run_job(ENDPOINT, as_of, tmp_path, environ=environment, session=aws) == 0
    first = s3.get_object(Bucket=BUCKET, Key=key)
    assert first["ServerSideEncryption"] == "aws:kms"
    body = first["Body"].read()
    verdict = json.loads(body)
    assert verdict["outcome"] == "promote", verdict["reason"]
    assert verdict["labelled_pairs"] == written["transactions"] == 200
    assert verdict["labelled_frauds"] == 40
    assert verdict["counts"]["pairs"] == 200 and verdict["counts"]["champion_unpaired"] == 0
    assert verdict["champion"]["recall"] == 0 and verdict["challenger"]["recall"] == 1
    assert verdict["interval"][1] < 0 and verdict["as_of"] == as_of.isoformat()
    # The champion's capture before the start (the fixture's 2026-11-22 traffic) is not counted.
    assert verdict["counts"]["pairs_before_start"] == 0
    assert monitor_job.run_job(ENDPOINT, as_of, tmp_path, environ=environment, session=aws) == 0
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    # Once the controller has decided, the job leaves the experiment alone.
    s3.put_object(Bucket=BUCKET, Key=key.replace("verdict.json", "2-decided.json"), Body=b"{}")
    later = datetime(2026, 12, 12, 7, tzinfo=timezone.utc)
    assert monitor_job.run_job(ENDPOINT, later, tmp_path, environ=environment, session=aws) == 0
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body


def test_too_few_labelled_frauds_continue_and_end_inconclusive_at_the_maximum_duration(
        aws, tmp_path):
    """A missing label is unknown: with 3 labelled frauds (10 needed) nothing is decided; at the
    maximum duration the verdict is inconclusive, which keeps the champion. (The job's verdict
    step alone: the run around it is the test above's.)"""
    from pipeline_src.jobs.monitor_settings import read_environment

    s3 = aws.client("s3")
    key = start_experiment(s3, "e0000002")
    conftest.put_experiment_traffic(s3, BUCKET, ENDPOINT, VARIANTS, EXPERIMENT_START,
                                    labelled_frauds=3, capture_prefix=CAPTURE_PREFIX)
    settings = read_environment(experiment_environment())
    destination = f"s3://{BUCKET}/{CAPTURE_PREFIX}"
    soon = datetime(2026, 12, 10, 7, tzinfo=timezone.utc)
    (verdict,) = monitor_job.experiment_verdicts(s3, s3, settings, ENDPOINT, destination, soon,
                                                 tmp_path, tmp_path / "out")
    assert (verdict["outcome"], verdict["labelled_frauds"]) == ("continue", 3)
    assert verdict["counts"]["pairs_unlabelled"] == 37
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == verdict
    late = datetime(2026, 12, 26, 7, tzinfo=timezone.utc)   # 31 days after the start
    (verdict,) = monitor_job.experiment_verdicts(s3, s3, settings, ENDPOINT, destination, late,
                                                 tmp_path, tmp_path / "out")
    assert verdict["outcome"] == "inconclusive"
    assert "the champion stays" in verdict["reason"]
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == verdict


def test_a_live_phase_gets_the_unpaired_verdict_of_the_variant_that_served_each_request(
        aws, tmp_path):
    """After the controller recorded the live phase (6-live: the challenger's share and when it
    took effect), the job judges the live traffic unpaired: each captured request counts for the
    variant whose folder holds it, written to live-verdict.json; the decided shadow verdict is
    left alone. A broken live record is one line naming it."""
    from pipeline_src.jobs.monitor_settings import read_environment

    s3 = aws.client("s3")
    key = start_experiment(s3, "e0000003")
    s3.put_object(Bucket=BUCKET, Key=key.replace("verdict.json", "2-decided.json"),
                  Body=json.dumps({"outcome": "promote"}).encode())
    live_key = key.replace("verdict.json", "6-live.json")
    s3.put_object(Bucket=BUCKET, Key=live_key, Body=json.dumps({
        "share": 0.5, "started_at": EXPERIMENT_START.isoformat()}).encode())
    conftest.put_experiment_traffic(s3, BUCKET, ENDPOINT, VARIANTS, EXPERIMENT_START,
                                    capture_prefix=CAPTURE_PREFIX, live=True)
    settings = read_environment(experiment_environment())
    destination = f"s3://{BUCKET}/{CAPTURE_PREFIX}"
    as_of = datetime(2026, 12, 10, 7, tzinfo=timezone.utc)
    (verdict,) = monitor_job.experiment_verdicts(s3, s3, settings, ENDPOINT, destination, as_of,
                                                 tmp_path, tmp_path / "out")
    assert verdict["phase"] == "live" and verdict["share"] == 0.5
    assert verdict["champion"]["labelled"] == verdict["challenger"]["labelled"] == 100
    assert verdict["champion"]["recall"] == 0 and verdict["challenger"]["recall"] == 1
    assert verdict["counts"]["served_by_both"] == 0
    assert verdict["outcome"] == "promote", verdict["reason"]
    written = s3.get_object(Bucket=BUCKET, Key=key.replace("verdict.json", "live-verdict.json"))
    assert json.loads(written["Body"].read()) == verdict
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)
    s3.put_object(Bucket=BUCKET, Key=live_key, Body=json.dumps({
        "share": 1.5, "started_at": EXPERIMENT_START.isoformat()}).encode())
    with pytest.raises(JobError, match=r"6-live.json: share 1.5 is not between 0 and 1$"):
        monitor_job.experiment_verdicts(s3, s3, settings, ENDPOINT, destination, as_of,
                                        tmp_path, tmp_path / "out")
