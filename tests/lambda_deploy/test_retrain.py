"""Retraining trigger against moto's CodePipeline: starts once, then holds for the cool-down.

Events as AWS documents them: "Alarm events and EventBridge"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html)
and S3's "Object Created" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
"""
import json
from datetime import datetime, timedelta, timezone

import pytest

from lambda_deploy import aws as lambda_aws
from lambda_deploy import retrain

PIPELINE = "fraud-mlops-dev-pipeline"
ALARM_EVENT = {
    "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
    "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
    "account": "123456789012", "time": "2026-11-22T06:00:00Z", "region": "eu-west-1",
    "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:fraud-mlops-dev-staging-drift"],
    "detail": {"alarmName": "fraud-mlops-dev-staging-drift",
               "state": {"value": "ALARM", "reason": "Threshold Crossed",
                         "timestamp": "2026-11-22T06:00:00.000+0000"},
               "previousState": {"value": "OK"}}}
DATA_EVENT = {
    "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
    "time": "2026-11-22T06:00:00Z", "region": "eu-west-1",
    "resources": ["arn:aws:s3:::fraud-mlops-dev-artifacts"],
    "detail": {"version": "0", "bucket": {"name": "fraud-mlops-dev-artifacts"},
               "object": {"key": "data/train.csv", "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                          "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mz8oD", "sequencer": "00617F08299329D189"},
               "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
               "source-ip-address": "1.2.3.4", "reason": "PutObject"}}


@pytest.fixture
def pipeline(aws_mock, monkeypatch):
    iam = lambda_aws.session().client("iam")
    role = iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "codepipeline.amazonaws.com"}}]}))
    lambda_aws.client("codepipeline").create_pipeline(pipeline={
        "name": PIPELINE, "roleArn": role["Role"]["Arn"],
        "artifactStore": {"type": "S3", "location": "fraud-mlops-dev-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS",
                                                   "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "b", "S3ObjectKey": "source/pipeline_src.zip"},
                "outputArtifacts": [{"name": "SourceOutput"}]}]},
            {"name": "Train", "actions": [{
                "name": "Train", "actionTypeId": {"category": "Build", "owner": "AWS",
                                                  "provider": "CodeBuild", "version": "1"},
                "configuration": {"ProjectName": "fraud-mlops-dev-train"},
                "inputArtifacts": [{"name": "SourceOutput"}]}]}]})
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("COOLDOWN_HOURS", "24")


def executions():
    return lambda_aws.client("codepipeline").list_pipeline_executions(
        pipelineName=PIPELINE)["pipelineExecutionSummaries"]


def test_a_flapping_alarm_starts_one_execution_per_cooldown(pipeline):
    now = datetime.now(timezone.utc)
    first = retrain.handler(ALARM_EVENT, None, now=now)
    assert first["status"] == "started" and len(executions()) == 1
    # The alarm flaps and new data lands within the cool-down: nothing more starts.
    for later, event in ((1, ALARM_EVENT), (5, DATA_EVENT), (23, ALARM_EVENT)):
        result = retrain.handler(event, None, now=now + timedelta(hours=later))
        assert result["status"] == "skipped"
    assert len(executions()) == 1
    # After the cool-down the next trigger starts the pipeline again.
    assert retrain.handler(DATA_EVENT, None, now=now + timedelta(hours=25))["status"] == "started"
    assert len(executions()) == 2


def test_reason_names_the_trigger():
    assert retrain.reason(ALARM_EVENT) == "alarm fraud-mlops-dev-staging-drift ALARM"
    assert retrain.reason(DATA_EVENT) == "new object data/train.csv"
