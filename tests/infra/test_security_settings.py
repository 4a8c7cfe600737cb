"""Security-relevant settings, asserted with cdktf's Testing matchers on the synthesized JSON."""
from __future__ import annotations

import json

import pytest
from cdktf import Testing as CdktfTesting

KEY = "${aws_kms_key.encryption_key_EEB70057.arn}"


@pytest.fixture(params=["fraud-mlops-dev", "fraud-mlops-prod"])
def synthesized(request, stack_texts):
    return stack_texts[request.param]


def has(synthesized: str, resource_type: str, properties: dict) -> bool:
    return CdktfTesting.to_have_resource_with_properties(synthesized, resource_type, properties)


def test_kms_key_rotates(synthesized):
    assert has(synthesized, "aws_kms_key", {"enable_key_rotation": True,
                                            "deletion_window_in_days": 30})


def test_bucket_is_versioned_encrypted_private_and_owner_enforced(synthesized):
    assert has(synthesized, "aws_s3_bucket_versioning",
               {"versioning_configuration": {"status": "Enabled"}})
    assert has(synthesized, "aws_s3_bucket_server_side_encryption_configuration", {"rule": [{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                    "kms_master_key_id": KEY},
        "bucket_key_enabled": True}]})
    assert has(synthesized, "aws_s3_bucket_public_access_block", {
        "block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True,
        "restrict_public_buckets": True})
    assert has(synthesized, "aws_s3_bucket_ownership_controls",
               {"rule": {"object_ownership": "BucketOwnerEnforced"}})
    assert has(synthesized, "aws_s3_bucket_notification", {"eventbridge": True})


def test_bucket_lifecycle_expires_old_versions_and_aborts_uploads(synthesized):
    assert has(synthesized, "aws_s3_bucket_lifecycle_configuration", {"rule": [{
        "status": "Enabled",
        "noncurrent_version_expiration": [{"noncurrent_days": 90}],
        "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}]}, {
        # The deploy step's job claims outlive any redelivery of a job (6 hours at most).
        "status": "Enabled", "filter": [{"prefix": "deploy-claims/"}],
        "expiration": [{"days": 30}]}]})


def test_source_object_is_encrypted_and_hash_tracked(synthesized, stacks):
    assert has(synthesized, "aws_s3_object", {"key": "source/pipeline_src.zip",
                                              "server_side_encryption": "aws:kms",
                                              "kms_key_id": KEY})


def test_codebuild_projects_encrypted_unprivileged_and_logged(synthesized):
    for name in ("train", "test"):
        assert has(synthesized, "aws_codebuild_project", {
            "encryption_key": KEY,
            "environment": {"privileged_mode": False},
            "source": {"type": "CODEPIPELINE",
                       "buildspec": f"pipeline_src/buildspecs/{name}.yml"},
            "logs_config": {"cloudwatch_logs": {"status": "ENABLED"}}})


PIPELINE_STACKS = ("fraud-mlops-dev", "fraud-mlops-prod")


def test_log_groups_encrypted_with_retention(stacks):
    for name in PIPELINE_STACKS:
        stack = stacks[name]
        groups = stack["resource"]["aws_cloudwatch_log_group"].values()
        # train, test and monitor builds, and one per function: deploy, and retraining where a
        # trigger is switched on (dev); the VPC's flow logs where config `network` creates one
        functions = stack["resource"]["aws_lambda_function"]
        flow_logs = stack["resource"].get("aws_flow_log", {})
        assert len(groups) == 3 + len(functions) + len(flow_logs)
        for group in groups:
            # A group in a secondary region (its network's flow logs) uses that region's key:
            # CloudWatch Logs takes a key of its own region only.
            region = group.get("region")
            if region is None:
                assert group["kms_key_id"] == KEY
            else:
                assert group["kms_key_id"].startswith(
                    f"${{aws_kms_key.region_network_{region.replace('-', '_')}_encryption_key_")
            assert group["retention_in_days"] in (30, 365)


def test_topic_encrypted(synthesized):
    assert has(synthesized, "aws_sns_topic", {"kms_master_key_id": KEY})


def test_deploy_lambda_settings(synthesized):
    assert has(synthesized, "aws_lambda_function", {
        "runtime": "python3.13", "handler": "lambda_deploy.handler.handler",
        "tracing_config": {"mode": "Active"}, "kms_key_arn": KEY,
        "reserved_concurrent_executions": 4})
    assert has(synthesized, "aws_lambda_function_event_invoke_config",
               {"maximum_retry_attempts": 0})


def test_pipeline_is_v2_encrypted_and_ordered(stacks):
    for stack in map(stacks.get, PIPELINE_STACKS):
        (pipeline,) = [p for p in stack["resource"]["aws_codepipeline"].values()
                       if p["name"].endswith("-pipeline")]
        assert pipeline["pipeline_type"] == "V2"
        assert pipeline["artifact_store"][0]["encryption_key"] == {"id": KEY, "type": "KMS"}
        assert [s["name"] for s in pipeline["stage"]] == [
            "Source", "Train", "Test", "DeployStaging", "ApproveProd", "DeployProd"]
        source = pipeline["stage"][0]["action"][0]
        # No polling: EventBridge (s3, dev) or the V2 trigger (github, prod) starts executions
        # (tests/infra/test_source.py).
        assert source["configuration"].get("PollForSourceChanges", "false") == "false"
        assert "DetectChanges" not in source["configuration"]
        deploys = [s["action"][0] for s in pipeline["stage"] if s["name"].startswith("Deploy")]
        assert [json.loads(a["configuration"]["UserParameters"]) for a in deploys] == [
            {"stage": "staging"}, {"stage": "prod"}]
        approval = pipeline["stage"][4]["action"][0]
        assert approval["provider"] == "Manual"
        assert approval["configuration"]["NotificationArn"].startswith("${aws_sns_topic.")


def test_alarms_reach_the_deploy_step(stacks):
    for name in PIPELINE_STACKS:
        stack = stacks[name]
        # The endpoint alarms, in whichever account's stack has the endpoint; the monitor's
        # drift/quality alarms do not roll deploys back.
        environment = [s for n, s in stacks.items() if n == name or n.startswith(f"{name}-")]
        alarm_names = sorted(a["alarm_name"] for s in environment
                             for a in s["resource"].get("aws_cloudwatch_metric_alarm",
                                                        {}).values()
                             if a["namespace"] == "AWS/SageMaker")
        function = stack["resource"]["aws_lambda_function"]["deploy_function_F2AD761A"]
        settings = json.loads(function["environment"]["variables"]["STAGE_SETTINGS"])
        # A stage's secondary regions (prod's prod) have the same alarms in their own stacks.
        given = [n for s in settings.values()
                 for n in s["alarm_names"] + [a for p in s.get("secondary_regions", [])
                                              for a in p["alarm_names"]]]
        assert sorted(given) == alarm_names
        assert len(alarm_names) == (4 if name == "fraud-mlops-dev" else 6)


def test_source_change_starts_pipeline(stacks):
    for name in PIPELINE_STACKS:
        stack = stacks[name]
        rules = {r["name"]: json.loads(r["event_pattern"])
                 for r in stack["resource"]["aws_cloudwatch_event_rule"].values()
                 if "event_pattern" in r}
        source_rules = [p for n, p in rules.items() if n.endswith("source-changed")]
        (pipeline,) = [p for p in stack["resource"]["aws_codepipeline"].values()
                       if p["name"].endswith("-pipeline")]
        if name == "fraud-mlops-dev":  # the S3 source: a new object version starts it
            (source_rule,) = source_rules
            assert source_rule["detail"]["object"]["key"] == ["source/pipeline_src.zip"]
            assert "trigger" not in pipeline
        else:  # the GitHub source: its V2 trigger does, and no rule on the zip
            assert source_rules == []
            assert pipeline["trigger"][0]["provider_type"] == "CodeStarSourceConnection"
        (failed_rule,) = [p for n, p in rules.items() if n.endswith("pipeline-failed")]
        assert failed_rule["detail"]["state"] == ["FAILED"]
        # every pipeline's failure is reported, the pull-request pipeline's included
        assert sorted(failed_rule["detail"]["pipeline"]) == sorted(
            p["name"] for p in stack["resource"]["aws_codepipeline"].values())


def test_provider_default_tags_and_prod_remote_state(stacks):
    prod = stacks["fraud-mlops-prod"]
    assert prod["provider"]["aws"][0]["default_tags"][0]["tags"]["Environment"] == "prod"
    backend = prod["terraform"]["backend"]["s3"]
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    dev = stacks["fraud-mlops-dev"]
    assert dev["terraform"]["backend"]["local"]["path"] == "../../../terraform.fraud-mlops-dev.tfstate"


def test_account_guard_pins_the_provider_to_one_account(tmp_path):
    from infra.app import synthesize
    from infra.config import load_environments

    configs = load_environments(["dev"], {"dev": {"account_id": "123456789012"}})
    (path,) = synthesize(configs, tmp_path / "out").values()
    provider = json.loads(path.read_text())["provider"]["aws"][0]
    assert provider["allowed_account_ids"] == ["123456789012"]
    assert provider["region"] == "eu-west-1"


def test_without_account_guard_no_account_is_pinned(stacks):
    assert "allowed_account_ids" not in stacks["fraud-mlops-dev"]["provider"]["aws"][0]


def test_train_build_outlasts_the_training_job_it_waits_for(stacks):
    # dev: max runtime 3600 s; the job waits up to runtime + 60 min, plus 20 min of setup.
    projects = stacks["fraud-mlops-dev"]["resource"]["aws_codebuild_project"].values()
    timeouts = {p["name"]: p["build_timeout"] for p in projects}
    assert timeouts == {"fraud-mlops-dev-train": 140, "fraud-mlops-dev-test": 60,
                        "fraud-mlops-dev-monitor": 60}


def test_serving_role_can_read_the_rollback_alarms(stacks):
    # SageMaker evaluates AutoRollbackConfiguration alarms as the served model's execution role.
    resources = stacks["fraud-mlops-dev"]["resource"]
    policies = resources["aws_iam_role_policy"]
    (policy,) = [p for lid, p in policies.items() if lid.startswith("sagemaker_serving")]
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    assert statements["ReadRollbackAlarms"]["Action"] == ["cloudwatch:DescribeAlarms"]
    alarms = {f"${{aws_cloudwatch_metric_alarm.{lid}.arn}}"
              for lid, a in resources["aws_cloudwatch_metric_alarm"].items()
              if a["namespace"] == "AWS/SageMaker"}
    # An experiment's live phase adds the challenger's alarms (made by the deploy function, by
    # their name pattern) to the update that moves to its live config.
    live = ("arn:aws:cloudwatch:eu-west-1:${data.aws_caller_identity.current.account_id}:alarm:"
            "fraud-mlops-dev-*-live_*")
    assert len(alarms) == 4 and set(statements["ReadRollbackAlarms"]["Resource"]) == \
        alarms | {live}
