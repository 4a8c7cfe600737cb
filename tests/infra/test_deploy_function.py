"""The deploy function's role follows the environment's settings: it may change the instance
counts only of the endpoints of stages whose config sets `autoscaling`."""
from __future__ import annotations

import json

import pytest

from infra.app import synthesize
from infra.config import load_environment

STAGING_SCALING = {"min_instances": 1, "max_instances": 2, "target_invocations_per_instance": 100}


def _scaling_grants(config, outdir) -> tuple[list[str] | None, set[str]]:
    """Resources of the deploy role's ScaleOwnEndpoints statement (None when it has none), and
    the Application Auto Scaling write actions the role has."""
    (path,) = synthesize([config], outdir).values()
    stack = json.loads(path.read_text(encoding="utf-8"))
    for policy in stack["resource"]["aws_iam_role_policy"].values():
        if policy["name"] != "deploy":
            continue
        statements = json.loads(policy["policy"])["Statement"]
        scaled = next(([arn.rsplit("/", 1)[1] for arn in st["Resource"]] for st in statements
                       if st["Sid"] == "ScaleOwnEndpoints"), None)
        writes = {a for st in statements for a in st["Action"]
                  if a.startswith("application-autoscaling:") and not a.split(":")[1].startswith(
                      "Describe")}
        return scaled, writes
    raise AssertionError("no deploy role policy in the stack")


REMOVE = {"application-autoscaling:DeleteScalingPolicy",
          "application-autoscaling:DeregisterScalableTarget"}
REGISTER = {"application-autoscaling:PutScalingPolicy",
            "application-autoscaling:RegisterScalableTarget"}


@pytest.mark.parametrize("overrides, expected", [
    ({}, ["fraud-mlops-dev-prod"]),  # config/dev.json: prod autoscales, staging does not
    ({"stages": [{"name": "staging", "autoscaling": STAGING_SCALING}]},
     ["fraud-mlops-dev-staging", "fraud-mlops-dev-prod"]),
    ({"stages": [{"name": "prod", "autoscaling": None}]}, None),
], ids=["prod only", "both stages", "no stage"])
def test_scaling_grant_names_only_the_endpoints_of_stages_that_autoscale(tmp_path, overrides,
                                                                         expected):
    config = load_environment("dev", overrides=overrides)
    scaled, writes = _scaling_grants(config, tmp_path / "out")
    assert scaled == expected
    # Registering only where a stage autoscales; removing always, since the next deploy of a
    # stage whose autoscaling was turned off removes its scaling (lambda_deploy/scaling.py).
    assert writes == (REMOVE | REGISTER if expected else REMOVE)


def test_an_experiment_stage_gets_the_hourly_controller_and_its_settings(tmp_path):
    """With a stage's `experiment` set, the deploy function carries it in STAGE_SETTINGS and an
    EventBridge schedule invokes it with the controller's event; without one (config/dev.json
    as it is, covered by the snapshot) there is no schedule and STAGE_SETTINGS is unchanged."""
    from lambda_deploy.experiment import CONTROLLER_EVENT

    config = load_environment("dev", overrides={"stages": [
        {"name": "prod", "autoscaling": None,
         "experiment": {"max_days": 45, "false_alarm_cost": 7.5, "live_share": 0.1}}]})
    (path,) = synthesize([config], tmp_path / "out").values()
    stack = json.loads(path.read_text(encoding="utf-8"))
    resources = stack["resource"]
    (rule,) = [r for r in resources["aws_cloudwatch_event_rule"].values()
               if r["name"].endswith("experiment-controller")]
    assert rule["schedule_expression"] == "rate(1 hour)"
    (target,) = [t for t in resources["aws_cloudwatch_event_target"].values()
                 if t["target_id"] == "experiment-controller"]
    assert json.loads(target["input"]) == {CONTROLLER_EVENT: "scheduled"}
    (function,) = [f for f in resources["aws_lambda_function"].values()
                   if f["function_name"].endswith("-deploy")]
    assert "aws_lambda_function.deploy_function" in target["arn"]
    stages = json.loads(function["environment"]["variables"]["STAGE_SETTINGS"])
    # The function gets what its controller reads; the verdict's rule goes to the monitor job.
    assert stages["prod"]["experiment"] == {"challenger_variant": "Challenger", "max_days": 45,
                                            "live_share": 0.1}
    assert "experiment" not in stages["staging"]
    # The live phase: the challenger's alarms the function makes, and what it may do for it:
    # set the weights of this endpoint (which does not autoscale), manage alarms of that pattern.
    assert stages["prod"]["live_alarm_names"] == [
        "fraud-mlops-dev-prod-live_5xx-errors", "fraud-mlops-dev-prod-live_model-latency"]
    assert "live_alarm_names" not in stages["staging"]
    (policy,) = [json.loads(p["policy"]) for p in resources["aws_iam_role_policy"].values()
                 if p["name"] == "deploy"]
    grants = {s["Sid"]: s for s in policy["Statement"]}
    # A challenger alarm in ALARM runs the controller at once (the live phase ends).
    (alarm_rule,) = [r for r in resources["aws_cloudwatch_event_rule"].values()
                     if r["name"].endswith("experiment-alarms")]
    assert json.loads(alarm_rule["event_pattern"])["detail"] == {
        "alarmName": [{"wildcard": "fraud-mlops-dev-*-live_*"}], "state": {"value": ["ALARM"]}}
    (alarm_target,) = [t for t in resources["aws_cloudwatch_event_target"].values()
                       if "experiment_alarm_rule" in t["rule"]]
    assert json.loads(alarm_target["input"]) == {CONTROLLER_EVENT: "alarm"}
    assert [p for p in resources["aws_lambda_permission"].values()
            if "experiment_alarm_rule" in p["source_arn"]]
    account = "${data.aws_caller_identity.current.account_id}"
    assert grants["ScaleOwnEndpoints"]["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/fraud-mlops-dev-prod"]
    assert grants["ManageLiveExperimentAlarms"]["Resource"] == [
        f"arn:aws:cloudwatch:eu-west-1:{account}:alarm:fraud-mlops-dev-*-live_*"]
    (monitor,) = [p for p in resources["aws_codebuild_project"].values()
                  if p["name"].endswith("-monitor")]
    variables = {v["name"]: v["value"] for v in monitor["environment"]["environment_variable"]}
    rules = json.loads(variables["MONITOR_EXPERIMENTS"])
    assert list(rules) == ["fraud-mlops-dev-prod"]
    assert rules["fraud-mlops-dev-prod"]["false_alarm_cost"] == 7.5
    assert rules["fraud-mlops-dev-prod"]["max_days"] == 45
    assert variables["EXPERIMENTS_S3_URI"] == \
        function["environment"]["variables"]["EXPERIMENTS_S3_URI"]
    assert [p for p in resources["aws_lambda_permission"].values()
            if p["principal"] == "events.amazonaws.com" and "experiment" in p["source_arn"]]
    # Each recorded step (an object the controller creates) notifies the topic.
    (steps,) = [r for r in resources["aws_cloudwatch_event_rule"].values()
                if r["name"].endswith("experiment-steps")]
    pattern = json.loads(steps["event_pattern"])
    assert pattern["detail"]["object"]["key"] == [
        {"wildcard": f"experiments/*/*/{step}.json"}
        for step in ("1-started", "2-decided", "6-live", "7-live-decided", "4-ended")]
    (notify,) = [t for t in resources["aws_cloudwatch_event_target"].values()
                 if "experiment_steps" in t["rule"]]
    assert "aws_sns_topic" in notify["arn"]
    # The dashboard shows the controller's steps (state, labelled pairs, interval).
    (dashboard,) = resources["aws_cloudwatch_dashboard"].values()
    (panel,) = [w for w in json.loads(dashboard["dashboard_body"])["widgets"]
                if w["type"] == "log"]
    assert panel["properties"]["query"].startswith("SOURCE '/aws/lambda/fraud-mlops-dev-deploy'")
    assert 'experiment_' in panel["properties"]["query"]
