"""Monitoring in the synthesized stacks: the monitor job and its schedule, drift and quality
alarms, the dashboard, and the retraining triggers (off by default, on through config)."""
import json
import re

import pytest

from infra.config import load_environment
from pipeline_src.jobs.monitor_settings import read_environment

# dev's endpoints are in the monitor's own account; prod's in its stage accounts, read there as
# each account's monitor reader role (tests/infra/test_iam_cross_account.py judges the roles).
STACKS = ["fraud-mlops-dev", "fraud-mlops-prod"]


def resources(stack, kind):
    return stack["resource"].get(kind, {})


def monitor_project(stack):
    (project,) = [p for p in resources(stack, "aws_codebuild_project").values()
                  if p["name"].endswith("-monitor")]
    return project


@pytest.mark.parametrize("name", STACKS)
def test_monitor_job_runs_the_source_zip_with_every_setting_it_requires(stacks, name):
    stack = stacks[name]
    project = monitor_project(stack)
    assert project["source"]["type"] == "S3"
    assert project["source"]["location"].endswith("/source/pipeline_src.zip")
    assert project["source"]["buildspec"] == "pipeline_src/buildspecs/monitor.yml"
    assert project["environment"]["privileged_mode"] is False
    assert project["encryption_key"]
    env = {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}
    # The job reads what infra writes (Terraform references resolve at apply time; CodeBuild
    # sets AWS_REGION itself) with its own settings contract.
    settings = read_environment({**{k: re.sub(r"\$\{[^}]+\}", "resolved", v)
                                    for k, v in env.items()}, "AWS_REGION": "eu-west-1"})
    # Both stages capture data in these configs, so both endpoints are monitored.
    prefix = name
    assert settings.endpoints == (f"{prefix}-staging", f"{prefix}-prod")
    assert env["MONITOR_ENDPOINTS"] == f"{prefix}-staging,{prefix}-prod"
    assert settings.metric_namespace == "fraud-mlops/Monitoring"
    assert settings.schedule_hours == 24 and env["MONITOR_WINDOW_HOURS"] == "24"
    assert settings.gate.min_pr_auc == load_environment(name.split("-")[-1]).quality_gate.min_pr_auc
    # Every endpoint elsewhere is read as its account's reader role, with the ExternalId.
    if name == "fraud-mlops-dev":
        assert settings.readers == {} and "MONITOR_EXTERNAL_ID" not in env
    else:
        assert settings.readers == {
            f"{prefix}-staging": f"arn:aws:iam::222222222222:role/{prefix}-monitor-reader",
            f"{prefix}-prod": f"arn:aws:iam::333333333333:role/{prefix}-monitor-reader"}
        assert settings.external_id == f"{prefix}-monitor"
    # prod's prod stage also serves from eu-central-1: read there too.
    assert settings.regions == ({} if name == "fraud-mlops-dev" else
                                {f"{prefix}-prod": ("eu-central-1",)})


def test_the_monitor_reads_stage_accounts_only_as_their_readers(stacks):
    """prod's monitor job holds no SageMaker endpoint or capture grant in its own account (no
    endpoint is there): it assumes exactly the two readers, with the ExternalId."""
    stack = stacks["fraud-mlops-prod"]
    (policy,) = [json.loads(p["policy"]) for lid, p in resources(stack, "aws_iam_role_policy").items()
                 if lid.startswith("monitoring_role")]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert "FollowEndpointToModelPackage" not in by_sid and "ReadCaptureAndLabels" not in by_sid
    assume = by_sid["ReadStageEndpointsAsTheirMonitorReader"]
    assert assume["Action"] == ["sts:AssumeRole"]
    assert assume["Resource"] == [f"arn:aws:iam::{a}:role/fraud-mlops-prod-monitor-reader"
                                  for a in ("222222222222", "333333333333")]
    assert assume["Condition"] == {"StringEquals": {"sts:ExternalId": "fraud-mlops-prod-monitor"}}
    assert [s["Resource"] for s in policy["Statement"] if s["Sid"] == "ReadLabels"] == [
        ["${aws_s3_bucket.artifact_store_bucket_C02EB893.arn}/ground-truth/*"]]


@pytest.mark.parametrize("name", STACKS)
def test_schedule_starts_only_the_monitor_job(stacks, name):
    stack = stacks[name]
    (rule,) = [r for r in resources(stack, "aws_cloudwatch_event_rule").values()
               if r["name"].endswith("monitor-schedule")]
    assert rule["schedule_expression"] == "rate(24 hours)" and rule["state"] == "ENABLED"
    (target,) = [t for t in resources(stack, "aws_cloudwatch_event_target").values()
                 if t["target_id"] == "monitor"]
    assert "codebuild_project" in target["arn"] and "monitoring" in target["arn"]
    policies = [json.loads(p["policy"]) for lid, p in resources(stack, "aws_iam_role_policy").items()
                if lid.startswith("monitoring_schedule_role")]
    (policy,) = policies
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["codebuild:StartBuild"]
    assert statement["Resource"] == [target["arn"]]


@pytest.mark.parametrize("name", STACKS)
def test_drift_and_quality_alarms_per_endpoint_at_the_gate(stacks, name):
    from infra.config import load_environment

    config = load_environment(name.rsplit("-", 1)[1])
    alarms = {a["alarm_name"]: a for a in resources(stacks[name],
                                                   "aws_cloudwatch_metric_alarm").values()
              if a.get("namespace") == "fraud-mlops/Monitoring"}
    gate = config.quality_gate
    expected = {}
    # Every region a stage serves from has its own alarms on its own series (the job publishes
    # each region's metrics with its Region dimension); a secondary's names end with the region.
    for stage in ("staging", "prod"):
        for region in (config.region, *config.stage(stage).secondary_regions):
            at = "" if region == config.region else f"-{region}"
            dimensions = {"EndpointName": f"{name}-{stage}", "Region": region}
            expected[f"{name}-{stage}-drift{at}"] = ("DriftDetected", 1, dimensions)
            expected.update({
                f"{name}-{stage}-prauc{at}": ("PrAuc", gate.min_pr_auc, dimensions),
                f"{name}-{stage}-recall{at}": ("Recall", gate.min_recall, dimensions),
                f"{name}-{stage}-precision{at}": ("Precision", gate.min_precision, dimensions),
                f"{name}-{stage}-f1{at}": ("F1", gate.min_f1, dimensions)})
    assert {n: (a["metric_name"], a["threshold"], a["dimensions"])
            for n, a in alarms.items()} == expected
    assert len(expected) == (10 if name == "fraud-mlops-dev" else 15)
    for alarm in alarms.values():
        assert alarm["alarm_actions"] == alarm["ok_actions"] and len(alarm["alarm_actions"]) == 1
        assert "sns_topic" in alarm["alarm_actions"][0]
        assert alarm["period"] == 86400 and alarm["treat_missing_data"] == "notBreaching"


@pytest.mark.parametrize("name", STACKS)
def test_dashboard_shows_traffic_drift_quality_and_pipeline_runs(stacks, name):
    (dashboard,) = resources(stacks[name], "aws_cloudwatch_dashboard").values()
    assert dashboard["dashboard_name"] == name
    body = json.loads(dashboard["dashboard_body"])
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for word in ("Drifted", "Quality", "Pipeline runs") + (
            ("Invocations", "latency", "Errors") if name == "fraud-mlops-dev" else ()):
        assert any(word in t for t in titles), word
    metrics = {tuple(m[:2]) for w in body["widgets"] if w["type"] == "metric"
               for m in w["properties"]["metrics"]}
    assert ("fraud-mlops/Monitoring", "DriftedFeatureShare") in metrics
    assert ("AWS/CodeBuild", "FailedBuilds") in metrics
    # CloudWatch refuses a metric widget without metrics (PutDashboard's body validation).
    assert all(w["properties"]["metrics"] for w in body["widgets"] if w["type"] == "metric")
    # One line per endpoint and region it serves from, on the series the job publishes.
    monitored = {tuple(m[2:6]) for w in body["widgets"]
                 for m in w["properties"].get("metrics", []) if m[0] == "fraud-mlops/Monitoring"}
    config = load_environment(name.rsplit("-", 1)[1])
    assert monitored == {("EndpointName", f"{name}-{stage.name}", "Region", region)
                         for stage in config.stages
                         for region in (config.region, *stage.secondary_regions)}
    if name == "fraud-mlops-dev":
        assert ("AWS/SageMaker", "ModelLatency") in metrics
        return
    # prod's endpoints are in its stage accounts: their traffic is on each account's dashboard,
    # and the tooling dashboard says so instead of showing empty graphs.
    assert not any(m[0] == "AWS/SageMaker" for m in metrics)
    (note,) = [w for w in body["widgets"] if w["type"] == "text"]
    assert "222222222222" in note["properties"]["markdown"]
    for account, stage in (("222222222222", "staging"), ("333333333333", "prod")):
        (stage_dashboard,) = resources(stacks[f"{name}-{account}-eu-west-1"],
                                       "aws_cloudwatch_dashboard").values()
        rows = [m for w in json.loads(stage_dashboard["dashboard_body"])["widgets"]
                for m in w["properties"]["metrics"]]
        assert {(m[0], m[3]) for m in rows} == {("AWS/SageMaker", f"{name}-{stage}")}
    # A secondary region's traffic dashboard shows that region's metrics.
    (regional,) = resources(stacks[f"{name}-333333333333-eu-central-1"],
                            "aws_cloudwatch_dashboard").values()
    assert {w["properties"]["region"] for w in json.loads(regional["dashboard_body"])[
        "widgets"]} == {"eu-central-1"}


def test_retraining_is_off_unless_switched_on(stacks):
    # prod leaves every retrain_on_* at its default (off); dev switches retrain_on_drift on.
    retrains = {name: any(f["function_name"].endswith("-retrain")
                          for f in resources(stack, "aws_lambda_function").values())
                for name, stack in stacks.items() if name in ("fraud-mlops-dev",
                                                              "fraud-mlops-prod")}
    assert retrains == {"fraud-mlops-dev": True, "fraud-mlops-prod": False}


@pytest.fixture(scope="module")
def retraining_stack(tmp_path_factory):
    from infra.app import synthesize
    from infra.config import load_environments

    configs = load_environments(["dev"], {"dev": {"monitoring": {
        "retrain_on_drift": True, "retrain_on_quality": True, "retrain_on_new_data": True,
        "retrain_cooldown_hours": 12}}})
    (path,) = synthesize(configs, tmp_path_factory.mktemp("retrain") / "out").values()
    return json.loads(path.read_text())


def test_retraining_triggers_start_the_pipeline_through_the_cooldown_function(retraining_stack):
    stack = retraining_stack
    (function,) = [f for f in resources(stack, "aws_lambda_function").values()
                   if f["function_name"] == "fraud-mlops-dev-retrain"]
    assert function["handler"] == "lambda_deploy.retrain.handler"
    assert function["reserved_concurrent_executions"] == 1
    assert function["environment"]["variables"] == {"PIPELINE_NAME": "fraud-mlops-dev-pipeline",
                                                    "COOLDOWN_HOURS": "12"}
    rules = {r["name"]: json.loads(r["event_pattern"])
             for r in resources(stack, "aws_cloudwatch_event_rule").values()
             if "retrain" in r["name"]}
    alarm = rules["fraud-mlops-dev-retrain-on-alarm"]
    assert alarm["detail"]["state"]["value"] == ["ALARM"]
    assert len(alarm["resources"]) == 10  # drift + 4 quality alarms for each of 2 endpoints
    data = rules["fraud-mlops-dev-retrain-on-new-data"]
    assert data["detail"]["object"]["key"] == [{"prefix": "data/"}]
    permissions = resources(stack, "aws_lambda_permission").values()
    assert {p["principal"] for p in permissions} == {"events.amazonaws.com"}
    assert len(permissions) == 2
    (policy,) = [json.loads(p["policy"]) for lid, p in resources(stack, "aws_iam_role_policy").items()
                 if lid.startswith("retraining_role")]
    start = next(s for s in policy["Statement"] if s["Sid"] == "StartPipelineAfterCooldown")
    assert start["Action"] == ["codepipeline:ListPipelineExecutions",
                               "codepipeline:StartPipelineExecution"]
    assert start["Resource"] == [
        "arn:aws:codepipeline:eu-west-1:${data.aws_caller_identity.current.account_id}"
        ":fraud-mlops-dev-pipeline"]


def test_monitor_requirements_are_the_projects_pins():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def pins(path):
        out = set()
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip().rstrip("\\").strip()
            if "==" in line and not line.startswith("-"):
                name, version = line.split("==", 1)
                out.add((name.lower().replace("_", "-"), version.split(";")[0].strip()))
        return out

    monitor = pins(root / "pipeline_src/requirements-monitor.txt")
    assert ("evidently", "0.7.23") in monitor
    assert monitor <= pins(root / "requirements.txt"), monitor - pins(root / "requirements.txt")
