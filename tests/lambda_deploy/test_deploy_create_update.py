"""A first deploy creates the endpoint; a later one updates it blue/green; both finish on the new config."""
from __future__ import annotations

from deploy_helpers import (CAPTURE_URI, JOB_A, JOB_B, KMS_ARN, PREFIX, ROLE_ARN, SMOKE_CSV,
                            deploy_to_in_service, job_event, job_id_of, moto_endpoint)
from lambda_deploy.handler import handler


def tags_of(sm, arn):
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def test_first_deploy_creates_model_config_and_endpoint_then_succeeds(fake, registry, artifacts):
    arn = registry.register("Approved")
    key = artifacts.package(arn)

    handler(job_event(JOB_A, "staging", key), None)

    name = f"{PREFIX}-staging-v1-a1b2c3d4"
    model = fake.sm.describe_model(ModelName=name)
    assert model["Containers"] == [{"ModelPackageName": arn}]
    assert model["ExecutionRoleArn"] == ROLE_ARN
    assert tags_of(fake.sm, model["ModelArn"]) == {
        "mlops:project": "fraud-mlops", "mlops:environment": "dev", "mlops:stage": "staging",
        "mlops:created-by": "deploy-step", "mlops:model-package-arn": arn,
        "mlops:model-package-version": "1", "mlops:codepipeline-job": JOB_A}
    config = fake.sm.describe_endpoint_config(EndpointConfigName=name)
    assert config["KmsKeyId"] == KMS_ARN
    assert config["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}]
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True, "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"{CAPTURE_URI}/{PREFIX}-staging", "KmsKeyId": KMS_ARN,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                     "JsonContentTypes": ["application/json"]}}
    endpoint = fake.sm.describe_endpoint(EndpointName=f"{PREFIX}-staging")
    assert endpoint["EndpointConfigName"] == name
    assert tags_of(fake.sm, endpoint["EndpointArn"]) == {
        "mlops:project": "fraud-mlops", "mlops:environment": "dev", "mlops:stage": "staging",
        "mlops:created-by": "deploy-step"}
    assert fake.named("UpdateEndpoint") == []
    # Not done yet: CodePipeline is told to come back, and nothing else is said.
    assert len(fake.replies) == 1
    reply = fake.named("PutJobSuccessResult")[0]
    assert set(reply) == {"jobId", "continuationToken", "executionDetails"}
    assert reply["jobId"] == JOB_A and len(reply["continuationToken"]) <= 2048

    poll = job_event(JOB_A, "staging", key, token=reply["continuationToken"])
    handler(poll, None)

    invoke = fake.named("InvokeEndpoint")
    assert len(invoke) == 1 and invoke[0]["EndpointName"] == f"{PREFIX}-staging"
    assert invoke[0]["headers"]["Content-Type"] == "text/csv"
    assert invoke[0]["body"] == SMOKE_CSV.encode()
    name_, final = fake.last_reply()
    assert name_ == "PutJobSuccessResult" and "continuationToken" not in final
    # The continuation is a new CodePipeline job: the reply goes to that job, not the first.
    assert final["jobId"] == job_id_of(poll) != JOB_A
    assert final["outputVariables"] == {
        "EndpointName": f"{PREFIX}-staging", "EndpointConfigName": name,
        "ModelPackageArn": arn, "ModelPackageVersion": "1"}
    assert "smoke test passed on 2 rows" in final["executionDetails"]["summary"]


def test_the_model_and_endpoint_config_record_the_commit_the_package_was_trained_from(
        fake, registry, artifacts):
    """A GitHub-sourced pipeline's train job records the commit in the package's metadata
    (pipeline_src/jobs/train.py); what the deploy step creates from it carries the commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    arn = registry.register("Approved", properties={"source_commit": commit,
                                                    "source_revision": commit})
    handler(job_event(JOB_A, "staging", artifacts.package(arn)), None)

    name = f"{PREFIX}-staging-v1-a1b2c3d4"
    config = fake.sm.describe_endpoint_config(EndpointConfigName=name)
    assert tags_of(fake.sm, config["EndpointConfigArn"])["mlops:source-commit"] == commit
    model = fake.sm.describe_model(ModelName=name)
    assert tags_of(fake.sm, model["ModelArn"])["mlops:source-commit"] == commit


def test_a_package_without_a_commit_deploys_without_the_tag(fake, registry, artifacts):
    # The S3 source records the object version as source_revision, not a commit.
    arn = registry.register("Approved", properties={"source_revision": "3Hq.w_9xYzAbCdEf"})
    handler(job_event(JOB_A, "staging", artifacts.package(arn)), None)
    config = fake.sm.describe_endpoint_config(EndpointConfigName=f"{PREFIX}-staging-v1-a1b2c3d4")
    assert "mlops:source-commit" not in tags_of(fake.sm, config["EndpointConfigArn"])


def test_second_deploy_updates_blue_green_with_alarm_rollback(fake, registry, artifacts):
    first = registry.register("Approved")
    deploy_to_in_service(fake, artifacts, first, JOB_A, "prod")
    second = registry.register("Approved")
    key = artifacts.package(second)

    handler(job_event(JOB_B, "prod", key), None)

    new_config = f"{PREFIX}-prod-v2-b5e6f7a8"
    assert fake.named("UpdateEndpoint") == [{
        "EndpointName": f"{PREFIX}-prod",
        "EndpointConfigName": new_config,
        "RetainAllVariantProperties": False,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY", "WaitIntervalInSeconds": 60,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}},
                "TerminationWaitInSeconds": 120,
                "MaximumExecutionTimeoutInSeconds": 3600},
            "AutoRollbackConfiguration": {"Alarms": [
                {"AlarmName": f"{PREFIX}-prod-5xx-errors"},
                {"AlarmName": f"{PREFIX}-prod-model-latency"}]}},
    }]
    token = fake.last_reply()[1]["continuationToken"]

    # Still Updating: CodePipeline is asked to come back with the same token.
    handler(job_event(JOB_B, "prod", key, token=token), None)
    assert fake.last_reply()[1]["continuationToken"] == token

    fake.finish_update(f"{PREFIX}-prod")
    handler(job_event(JOB_B, "prod", key, token=token), None)

    name, final = fake.last_reply()
    assert name == "PutJobSuccessResult"
    assert final["outputVariables"]["EndpointConfigName"] == new_config
    assert final["outputVariables"]["ModelPackageArn"] == second
    assert fake.named("InvokeEndpoint") == []  # prod has no smoke test
    assert len(fake.named("UpdateEndpoint")) == 1


def test_staging_accepts_pending_approval_package(fake, registry, artifacts):
    arn = registry.register("PendingManualApproval")
    handler(job_event(JOB_A, "staging", artifacts.package(arn)), None)
    name, reply = fake.last_reply()
    assert name == "PutJobSuccessResult" and "continuationToken" in reply


def test_no_data_capture_when_percent_is_zero(fake, registry, artifacts, lambda_env):
    lambda_env(staging={"data_capture_percent": 0})
    handler(job_event(JOB_A, "staging", artifacts.package(registry.register())), None)
    config = fake.sm.describe_endpoint_config(EndpointConfigName=f"{PREFIX}-staging-v1-a1b2c3d4")
    assert not config.get("DataCaptureConfig")


def test_endpoint_busy_with_another_deployment_is_not_updated(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    fake.set_status(f"{PREFIX}-prod", "Updating")
    handler(job_event(JOB_B, "prod", artifacts.package(registry.register())), None)
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult"
    assert reply["failureDetails"]["type"] == "JobFailed"
    assert "is Updating with another deployment" in reply["failureDetails"]["message"]
    assert fake.named("UpdateEndpoint") == []
