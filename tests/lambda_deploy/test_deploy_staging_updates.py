"""Staging, like prod, is updated blue/green with its own alarms, rolled back, and cleaned up.

Exercises paths of the deploy step's permissions the other tests leave out (the IAM sufficiency
test records these calls): UpdateEndpoint onto a staging config, the staging rollback alarms,
deleting old staging models and configs, autoscaling registered and removed (on prod, the stage
the environments autoscale: the deploy role may scale only those endpoints).
"""
from __future__ import annotations

import pytest
from deploy_helpers import PREFIX, deploy_to_in_service, job_event
from lambda_deploy.handler import handler


def job(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012d}"


def test_staging_update_rollback_and_cleanup(fake, registry, artifacts, lambda_env):
    lambda_env(staging={"keep_previous": 0})
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), "staging")

    # v2: the update is rolled back by SageMaker; the step names the staging alarms it read.
    key = artifacts.package(registry.register())
    handler(job_event(job(2), "staging", key), None)
    (update,) = fake.named("UpdateEndpoint")
    assert update["EndpointConfigName"] == f"{PREFIX}-staging-v2-00000002"
    alarms = update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert [a["AlarmName"] for a in alarms] == [f"{PREFIX}-staging-5xx-errors",
                                                f"{PREFIX}-staging-model-latency"]
    token = fake.last_reply()[1]["continuationToken"]
    fake.roll_back(f"{PREFIX}-staging")
    handler(job_event(job(2), "staging", key, token=token), None)
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult"
    assert "rolled the update of endpoint" in reply["failureDetails"]["message"]

    # v3 goes live; with keep_previous 0 the older staging configs and models are deleted.
    deploy_to_in_service(fake, artifacts, registry.register(), job(3), "staging")
    configs = sorted(c["EndpointConfigName"]
                     for c in fake.sm.list_endpoint_configs()["EndpointConfigs"])
    models = sorted(m["ModelName"] for m in fake.sm.list_models()["Models"])
    assert configs == models == [f"{PREFIX}-staging-v3-00000003"]
    assert fake.last_reply()[0] == "PutJobSuccessResult"


def test_autoscaling_is_registered_then_removed(fake, registry, artifacts, lambda_env):
    stage = "prod"  # the code path does not depend on the stage
    lambda_env(**{stage: {"autoscaling": {"min_instances": 1, "max_instances": 3,
                                          "target_invocations_per_instance": 100}}})
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), stage)
    assert len(fake.scalable_targets(f"{PREFIX}-{stage}")) == 1

    # Autoscaling taken out of the stage settings: the next deploy deletes the policy and
    # deregisters the variant (AWS's order).
    lambda_env(**{stage: {"autoscaling": None}})
    deploy_to_in_service(fake, artifacts, registry.register(), job(2), stage)
    assert fake.scalable_targets(f"{PREFIX}-{stage}") == []
    assert fake.last_reply()[0] == "PutJobSuccessResult"
