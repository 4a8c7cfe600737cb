"""Every way a deploy can go wrong is answered with put_job_failure_result, never raised."""
from __future__ import annotations

import json
import logging

import pytest

from deploy_helpers import (GROUP, JOB_A, JOB_B, PREFIX, REGION, SECRET_KEY, SESSION_TOKEN,
                            deploy_to_in_service, job_event, job_id_of)
from botocore.awsrequest import AWSResponse

from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler


def failure(fake) -> dict:
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult", reply
    details = reply["failureDetails"]
    assert len(details["message"]) <= 5000
    return details


def nothing_created(fake) -> bool:
    return (fake.sm.list_models()["Models"] == []
            and fake.sm.list_endpoint_configs()["EndpointConfigs"] == []
            and fake.sm.list_endpoints()["Endpoints"] == [])


# -- packages that must not be deployed ----------------------------------------------------------

def test_prod_refuses_pending_approval_package(fake, registry, artifacts):
    arn = registry.register("PendingManualApproval")
    assert handler(job_event(JOB_A, "prod", artifacts.package(arn)), None) == {"status": "failed"}
    details = failure(fake)
    assert details["type"] == "JobFailed"
    assert "is PendingManualApproval" in details["message"]
    assert "prod deploys only Approved" in details["message"]
    assert "--model-approval-status Approved" in details["message"]
    assert nothing_created(fake)


def test_rejected_package_is_refused_even_in_staging(fake, registry, artifacts):
    arn = registry.register("Rejected")
    handler(job_event(JOB_A, "staging", artifacts.package(arn)), None)
    details = failure(fake)
    assert "no deployable model package for staging" in details["message"]
    assert "is Rejected" in details["message"]
    assert nothing_created(fake)


def test_package_of_another_group_is_refused(fake, registry, artifacts):
    foreign = registry.register("Approved", group="someone-elses-models")
    handler(job_event(JOB_A, "staging", artifacts.package(foreign)), None)
    details = failure(fake)
    assert details["type"] == "JobFailed"
    assert "belongs to group 'someone-elses-models'" in details["message"]
    assert GROUP in details["message"]
    assert nothing_created(fake)


def test_package_arn_that_does_not_exist(fake, registry, artifacts):
    registry.register()
    missing = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/42"
    handler(job_event(JOB_A, "staging", artifacts.package(missing)), None)
    assert "does not exist" in failure(fake)["message"]


# -- artifacts -----------------------------------------------------------------------------------

def test_missing_artifact_object(fake, artifacts):
    handler(job_event(JOB_A, "staging", "fraud-mlops-dev-pipe/TestOutput/nothing-here.zip"), None)
    details = failure(fake)
    assert details["type"] == "JobFailed"
    assert "could not be read (NoSuchKey)" in details["message"]
    assert "re-run the pipeline" in details["message"]


def test_artifact_without_model_package_json(fake, artifacts):
    handler(job_event(JOB_A, "staging", artifacts({"evaluation.json": "{}"})), None)
    message = failure(fake)["message"]
    assert message.startswith("no model package to deploy")
    assert "has no model_package.json" in message


@pytest.mark.parametrize("files, expected", [
    ({"model_package.json": "{not json"}, "is not valid JSON"),
    ({"model_package.json": json.dumps({"model_data_url": "s3://x"})}, "has no model_package_arn"),
])
def test_unusable_manifest(fake, artifacts, files, expected):
    handler(job_event(JOB_A, "staging", artifacts(files)), None)
    assert expected in failure(fake)["message"]


def test_artifact_that_is_not_a_zip(fake, artifacts):
    handler(job_event(JOB_A, "staging", artifacts(raw=b"plain text")), None)
    assert "is not a zip file" in failure(fake)["message"]


def test_action_without_input_artifact_is_a_configuration_error(fake):
    handler(job_event(JOB_A, "staging", key=None), None)
    details = failure(fake)
    assert details["type"] == "ConfigurationError"
    assert "no input artifact" in details["message"]


# -- configuration -------------------------------------------------------------------------------

@pytest.mark.parametrize("user_parameters, expected", [
    ("stage=staging", "not valid JSON"),
    ('{"stage": "qa"}', 'stage "qa" has no entry in STAGE_SETTINGS'),
    ("{}", 'expected {"stage": "<stage>"}, one of staging, prod'),
    ('["staging"]', 'expected {"stage": "<stage>"}, one of staging, prod'),
    ('{"stage": "prod", "force": true}', 'expected {"stage": "<stage>"}'),
    ("", "expected"),
])
def test_malformed_user_parameters(fake, artifacts, registry, user_parameters, expected):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, key=key, user_parameters=user_parameters), None)
    details = failure(fake)
    assert details["type"] == "ConfigurationError"
    assert details["message"].startswith("action UserParameters: ")
    assert expected in details["message"]
    assert nothing_created(fake)


@pytest.mark.parametrize("variable, value, expected", [
    ("STAGE_SETTINGS", "{broken", "STAGE_SETTINGS: not valid JSON"),
    ("STAGE_SETTINGS", json.dumps({"QA": {}}), "STAGE_SETTINGS.QA.stage: 'QA' is not a stage name"),
    ("STAGE_SETTINGS", json.dumps({"qa": {}}), "STAGE_SETTINGS.qa.endpoint_name: not set"),
    ("MODEL_PACKAGE_GROUP", "", "MODEL_PACKAGE_GROUP: not set"),
    ("RESOURCE_PREFIX", "other-dev", "RESOURCE_PREFIX: 'other-dev' is not PROJECT_NAME-ENVIRONMENT"),
    ("SMOKE_TEST_CSV", " ", "SMOKE_TEST_CSV: empty, but a stage has smoke_test enabled"),
])
def test_broken_environment_is_a_reported_configuration_error(
        fake, artifacts, registry, monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    handler(job_event(JOB_A, "staging", artifacts.package(registry.register())), None)
    details = failure(fake)
    assert details["type"] == "ConfigurationError"
    assert details["message"] == f"deploy function environment: {expected}" \
        or expected in details["message"]
    assert nothing_created(fake)


@pytest.mark.parametrize("stage, override, expected", [
    ("prod", {"variants": []}, "prod.variants: expected at least 1 entries, got 0"),
    ("prod", {"data_capture_s3_uri": "bucket/prefix"},
     "prod.data_capture_s3_uri: 'bucket/prefix' is not s3://bucket/prefix"),
    ("prod", {"kms_key_arn": ""}, "prod.kms_key_arn: not set"),
    ("prod", {"region": "Europe"}, "prod.region: 'Europe' is not an AWS region name"),
    ("prod", {"external_id": "x-deploy"}, "prod.role_arn: a stage in another account needs both"),
    ("prod", {"role_arn": "arn:aws:iam::333333333333:role/d"},
     "prod.role_arn: a stage in another account needs both"),
    ("prod", {"external_id": "x-deploy", "role_arn": "arn:aws:iam::3333:role/d"},
     "prod.role_arn: 'arn:aws:iam::3333:role/d' is not an IAM role ARN"),
    ("prod", {"variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 2}]},
     "prod.variants.1.name: 'a' is named twice"),
    ("prod", {"variants": [{"name": "a_b", "weight": 1}]},
     "prod.variants.0.name: 'a_b' is not a SageMaker variant name"),
    ("prod", {"variants": [{"name": "a", "weight": 0}]}, "prod.variants.0.weight: 0 is not above 0"),
    ("prod", {"alarm_names": ["x"], "variants": [{"name": "a", "weight": 1},
                                                 {"name": "b", "weight": 1}]},
     "prod.alarm_names: 1 alarm(s) for 2 variants"),
    ("prod", {"alarm_names": []}, "prod.alarm_names: expected at least 1 entries, got 0"),
    ("staging", {"endpoint_name": "someone-else"}, "staging.endpoint_name"),
    ("staging", {"deployment": {"strategy": "yolo"}}, "staging.deployment.strategy"),
    ("prod", {"initial_instance_count": True}, "prod.initial_instance_count: expected an integer"),
])
def test_invalid_stage_settings(fake, artifacts, registry, lambda_env, stage, override, expected):
    lambda_env(**{stage: override})
    handler(job_event(JOB_A, "staging", artifacts.package(registry.register())), None)
    details = failure(fake)
    assert details["type"] == "ConfigurationError"
    assert expected in details["message"]


def test_tampered_continuation_token_fails_the_job(fake, registry, artifacts):
    arn = registry.register()
    key = artifacts.package(arn)
    handler(job_event(JOB_A, "staging", key), None)
    token = json.loads(fake.last_reply()[1]["continuationToken"])
    other_stage_config = dict(token, config=f"{PREFIX}-prod-v1-ffffffff")
    handler(job_event(JOB_A, "staging", key, token=json.dumps(other_stage_config)), None)
    assert "does not match this stage" in failure(fake)["message"]
    handler(job_event(JOB_A, "prod", key, token=json.dumps(token)), None)
    assert "does not match this stage" in failure(fake)["message"]
    handler(job_event(JOB_A, "staging", key, token="garbage"), None)
    assert "not one this step issued" in failure(fake)["message"]


def test_unexpected_error_is_reported_not_raised(fake, registry, artifacts, monkeypatch):
    import lambda_deploy.handler as handler_module

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(handler_module, "check_package", explode)
    assert handler(job_event(JOB_A, "staging", artifacts.package(registry.register())),
                   None) == {"status": "failed"}
    assert failure(fake)["message"] == \
        "internal error in the deploy step: RuntimeError: disk on fire"


def test_event_that_is_not_a_job_is_ignored_without_reply(fake):
    assert handler({"hello": "world"}, None) == {"status": "ignored"}
    assert fake.replies == []


# -- outcomes of the deployment ------------------------------------------------------------------

def test_rollback_is_detected_and_names_the_alarm(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    cloudwatch = lambda_aws.session().client("cloudwatch", region_name=REGION)
    for alarm in ("5xx-errors", "model-latency"):
        cloudwatch.put_metric_alarm(
            AlarmName=f"{PREFIX}-prod-{alarm}", Namespace="AWS/SageMaker",
            MetricName="Invocation5XXErrors", Statistic="Sum", Period=60, EvaluationPeriods=3,
            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    key = artifacts.package(registry.register())
    handler(job_event(JOB_B, "prod", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    cloudwatch.set_alarm_state(AlarmName=f"{PREFIX}-prod-5xx-errors", StateValue="ALARM",
                               StateReason="threshold crossed")
    fake.roll_back(f"{PREFIX}-prod", reason="Alarm triggered rollback")

    poll = job_event(JOB_B, "prod", key, token=token)
    handler(poll, None)

    details = failure(fake)
    assert details["type"] == "JobFailed"
    message = details["message"]
    assert message.startswith(f"SageMaker rolled the update of endpoint {PREFIX}-prod back")
    assert f"InService on {PREFIX}-prod-v1-a1b2c3d4, not on the new config " \
           f"{PREFIX}-prod-v2-b5e6f7a8" in message
    assert f"Alarms in ALARM: {PREFIX}-prod-5xx-errors (threshold crossed)." in message
    assert f"{PREFIX}-prod-model-latency" not in message
    assert "SageMaker's reason: Alarm triggered rollback" in message
    assert fake.results[job_id_of(poll)][0] == "PutJobFailureResult"


def test_rollback_without_readable_alarms_still_fails_clearly(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    key = artifacts.package(registry.register())
    handler(job_event(JOB_B, "prod", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.roll_back(f"{PREFIX}-prod")
    handler(job_event(JOB_B, "prod", key, token=token), None)
    message = failure(fake)["message"]
    assert "rolled the update" in message and "MaximumExecutionTimeout" in message


@pytest.mark.parametrize("status", ["Failed", "UpdateRollbackFailed"])
def test_failed_endpoint_reports_sagemakers_reason(fake, registry, artifacts, status):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.set_status(f"{PREFIX}-staging", status,
                    "The primary container for production variant AllTraffic did not pass "
                    "the ping health check.")
    handler(job_event(JOB_A, "staging", key, token=token), None)
    message = failure(fake)["message"]
    assert message.startswith(f"endpoint {PREFIX}-staging is {status}: The primary container")
    assert fake.named("InvokeEndpoint") == []


def test_endpoint_stuck_past_the_deadline_fails(fake, registry, artifacts):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = json.loads(fake.last_reply()[1]["continuationToken"])
    token["t0"] -= 3600 + 120 + 1800 + 1
    fake.set_status(f"{PREFIX}-staging", "Creating")
    handler(job_event(JOB_A, "staging", key, token=json.dumps(token)), None)
    assert "is still Creating after" in failure(fake)["message"]


def test_failed_existing_endpoint_is_not_updated(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    fake.set_status(f"{PREFIX}-prod", "Failed", "capacity")
    handler(job_event(JOB_B, "prod", artifacts.package(registry.register())), None)
    message = failure(fake)["message"]
    assert "is Failed (capacity) and cannot be updated" in message
    assert "delete-endpoint" in message
    assert fake.named("UpdateEndpoint") == []


@pytest.mark.parametrize("body, expected", [
    (json.dumps({"predictions": [{"probability": 1.7, "label": 1},
                                 {"probability": 0.1, "label": 0}]}),
     "prediction 0 probability 1.7 is not a number in [0, 1]"),
    (json.dumps({"predictions": [{"probability": 0.2, "label": 0}]}), "1 predictions for 2 rows"),
    (json.dumps({"predictions": [{"probability": 0.2, "label": 0},
                                 {"probability": 0.3, "label": "no"}]}),
     "prediction 1 label 'no' is not 0 or 1"),
    (json.dumps([0.1, 0.2]), 'response has no "predictions" list'),
    ("<html>oops</html>", "response is not JSON"),
])
def test_smoke_test_failure_fails_the_stage(fake, registry, artifacts, body, expected):
    fake.inference_body = body.encode()
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    handler(job_event(JOB_A, "staging", key, token=token), None)
    details = failure(fake)
    assert details["type"] == "JobFailed"
    assert details["message"].startswith(f"smoke test failed on {PREFIX}-staging: {expected}")
    assert len(fake.named("InvokeEndpoint")) == 1


def test_long_failure_messages_fit_codepipeline_limit(fake, registry, artifacts):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.set_status(f"{PREFIX}-staging", "Failed", "x" * 20000)
    handler(job_event(JOB_A, "staging", key, token=token), None)
    message = failure(fake)["message"]
    assert len(message) == 5000 and message.endswith("…")


def test_event_and_credentials_are_never_logged(fake, registry, artifacts, caplog):
    caplog.set_level(logging.DEBUG, logger="lambda_deploy")
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    handler(job_event(JOB_A, "staging", key, token=token), None)
    handler(job_event(JOB_B, "prod", key, user_parameters="{bad"), None)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "lambda_deploy")
    assert "job_received" in logged and "job_failed" in logged
    assert SECRET_KEY not in logged and SESSION_TOKEN not in logged
    assert "ASIAARTIFACTKEY" not in logged and "artifactCredentials" not in logged


def _sagemaker_error(operation, code, message="denied"):
    def answer(model, **_):
        if model.name == operation:
            return (AWSResponse("https://fake", 400, {}, None),
                    {"Error": {"Code": code, "Message": message},
                     "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None
    lambda_aws.client("sagemaker").meta.events.register("before-call.sagemaker.*", answer)


def test_access_denied_is_a_permission_error_naming_the_call(fake, registry, artifacts):
    _sagemaker_error("CreateEndpoint", "AccessDeniedException",
                     "not authorized to perform: sagemaker:CreateEndpoint")
    handler(job_event(JOB_A, "staging", artifacts.package(registry.register())), None)
    details = failure(fake)
    assert details["type"] == "PermissionError"
    assert details["message"] == ("sagemaker:CreateEndpoint failed: AccessDeniedException: not "
                                  "authorized to perform: sagemaker:CreateEndpoint")


def test_throttled_poll_asks_codepipeline_to_come_back(fake, registry, artifacts):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "staging", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    _sagemaker_error("DescribeEndpoint", "ThrottlingException", "Rate exceeded")
    handler(job_event(JOB_A, "staging", key, token=token), None)
    name, reply = fake.last_reply()
    assert name == "PutJobSuccessResult" and reply["continuationToken"] == token
    assert "ThrottlingException, will retry" in reply["executionDetails"]["summary"]
