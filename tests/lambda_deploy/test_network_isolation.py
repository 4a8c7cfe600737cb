"""The served model runs without network access: CreateModel asks for EnableNetworkIsolation
(moto keeps no such field on models, so the request itself is checked as botocore sends it).
That the container then starts with no network is tests/container/test_serving_parity.py."""
from __future__ import annotations

import json

import pytest

from deploy_helpers import JOB_A, REGION, job_event, moto_backend
from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler

# A stage in the function's own account with the environment's network on: the tooling VPC's
# subnets and its serving security group (infra/deploy_function.py local_placement).
TOOLING_VPC = {"subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
               "security_group_ids": ["sg-0123456789abcdef0"]}


# dev, which the IAM analysis judges the recordings against, has no network; the network
# analysis (tests/infra/test_network.py) gives the recorded CreateModel the VPC keys instead
# (tests/iam/declarations.py deploy_vpc_context).
IN_TOOLING_VPC = pytest.param(TOOLING_VPC, id="tooling-vpc", marks=pytest.mark.iam_not_recorded(
    "a stage serving in the tooling VPC: dev has no network"))


@pytest.mark.parametrize("vpc_config", [pytest.param(None, id="no-network"), IN_TOOLING_VPC])
def test_model_is_created_network_isolated(fake, registry, artifacts, lambda_env, vpc_config):
    if vpc_config is not None:
        lambda_env(staging={"vpc_config": vpc_config})
    requests = []
    lambda_aws.client("sagemaker").meta.events.register(
        "before-call.sagemaker.CreateModel",
        lambda params, **_: requests.append(json.loads(params["body"])))
    arn = registry.register("Approved")
    handler(job_event(JOB_A, "staging", artifacts.package(arn)), None)
    assert len(requests) == 1
    assert requests[0]["EnableNetworkIsolation"] is True
    assert requests[0]["Containers"] == [{"ModelPackageName": arn}]
    expected = None if vpc_config is None else {
        "Subnets": vpc_config["subnets"], "SecurityGroupIds": vpc_config["security_group_ids"]}
    assert requests[0].get("VpcConfig") == expected
    assert moto_backend()._models[requests[0]["ModelName"]].vpc_config == (expected or {})


def test_sts_is_called_at_the_regional_endpoint_private_subnets_resolve(aws_mock):
    """In private subnets only sts.<region>.amazonaws.com resolves to the STS interface endpoint
    (AWS PrivateLink guide, "Access an AWS service using an interface VPC endpoint": private DNS
    covers the service's regional name); the Lambda runtime's botocore 1.35 would call the global
    sts.amazonaws.com. Runs on that runtime too (make test-lambda)."""
    assert lambda_aws.client("sts").meta.endpoint_url == f"https://sts.{REGION}.amazonaws.com"

