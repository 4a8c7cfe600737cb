"""Endpoints that autoscale: registered after create, kept working across blue/green updates.

Application Auto Scaling is moto's implementation. What SageMaker does around it comes from
"Update endpoints that use auto scaling" (SageMaker developer guide,
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html): an update that
changes an autoscaled variant's instance type fails unless the variant was deregistered
(FakeAws refuses it), a model change alone is allowed.
"""
from __future__ import annotations

import pytest

from deploy_helpers import (JOB_A, JOB_B, PREFIX, REGION, error, job_event, moto_endpoint)
from lambda_deploy import aws as lambda_aws
from lambda_deploy.errors import ConfigurationFailure
from lambda_deploy.handler import handler
from lambda_deploy.settings import load_settings

SCALING = {"min_instances": 2, "max_instances": 6, "target_invocations_per_instance": 150}
RESOURCE = f"endpoint/{PREFIX}-prod/variant/AllTraffic"
POLICY = f"{PREFIX}-prod-invocations-per-instance"


def autoscaling():
    return lambda_aws.session().client("application-autoscaling", region_name=REGION)


def registration() -> tuple[list[dict], list[dict]]:
    client = autoscaling()
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return ([{k: t[k] for k in ("ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity")}
             for t in targets],
            [{k: p[k] for k in ("PolicyName", "ResourceId", "PolicyType",
                                "TargetTrackingScalingPolicyConfiguration")} for p in policies])


def expected(min_instances=2, max_instances=6, target=150.0, scale_out=60, scale_in=300):
    return ([{"ResourceId": RESOURCE, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
              "MinCapacity": min_instances, "MaxCapacity": max_instances}],
            [{"PolicyName": POLICY, "ResourceId": RESOURCE, "PolicyType": "TargetTrackingScaling",
              "TargetTrackingScalingPolicyConfiguration": {
                  "TargetValue": target,
                  "PredefinedMetricSpecification": {
                      "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                  "ScaleOutCooldown": scale_out, "ScaleInCooldown": scale_in}}])


def deploy(fake, registry, artifacts, job_id, *, roll_back=False):
    """One prod deployment to its end; returns the name of the final reply."""
    key = artifacts.package(registry.register())
    handler(job_event(job_id, "prod", key), None)
    name, reply = fake.last_reply()
    if name != "PutJobSuccessResult":
        return name
    endpoint = moto_endpoint(f"{PREFIX}-prod")
    if getattr(endpoint, "pending_deployment_summary", None):
        (fake.roll_back if roll_back else fake.finish_update)(f"{PREFIX}-prod")
    handler(job_event(job_id, "prod", key, token=reply["continuationToken"]), None)
    return fake.last_reply()[0]


def config_of(fake, job_id: str, version: int) -> dict:
    return fake.sm.describe_endpoint_config(
        EndpointConfigName=f"{PREFIX}-prod-v{version}-{job_id[:8]}")["ProductionVariants"][0]


def scale_to(count: int) -> None:
    """What Application Auto Scaling does to the live endpoint (UpdateEndpointWeightsAndCapacities)."""
    for variant in moto_endpoint(f"{PREFIX}-prod").production_variants:
        variant["DesiredInstanceCount"] = variant["CurrentInstanceCount"] = count


@pytest.fixture
def scaled(fake, lambda_env):
    lambda_env(prod={"autoscaling": SCALING})
    return fake


def test_new_endpoint_is_registered_once_in_service(scaled, registry, artifacts, calls):
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "prod", key), None)
    # Creating: nothing to register yet.
    assert registration() == ([], []) and calls.count("RegisterScalableTarget") == 0
    assert config_of(scaled, JOB_A, 1)["InitialInstanceCount"] == 2

    handler(job_event(JOB_A, "prod", key, token=scaled.last_reply()[1]["continuationToken"]),
            None)

    assert scaled.last_reply()[0] == "PutJobSuccessResult"
    assert registration() == expected()
    assert "autoscaling 2..6 instances at 150 invocations/instance/minute" in \
        scaled.last_reply()[1]["executionDetails"]["summary"]
    assert calls.calls.index("RegisterScalableTarget") < calls.calls.index("PutScalingPolicy")


def test_update_keeps_the_scaled_out_fleet_and_the_registration(scaled, registry, artifacts,
                                                               calls):
    assert deploy(scaled, registry, artifacts, JOB_A) == "PutJobSuccessResult"
    scale_to(5)

    assert deploy(scaled, registry, artifacts, JOB_B) == "PutJobSuccessResult"

    # Same instance type: AWS allows the update while registered; the new fleet starts at 5.
    assert config_of(scaled, JOB_B, 2)["InitialInstanceCount"] == 5
    assert calls.count("DeregisterScalableTarget") == calls.count("DeleteScalingPolicy") == 0
    assert registration() == expected()
    assert moto_endpoint(f"{PREFIX}-prod").production_variants[0]["DesiredInstanceCount"] == 5


@pytest.mark.parametrize("live, carried", [(9, 6), (1, 2), (4, 4)])
def test_carried_count_stays_within_the_configured_bounds(scaled, registry, artifacts, live,
                                                          carried):
    deploy(scaled, registry, artifacts, JOB_A)
    scale_to(live)
    handler(job_event(JOB_B, "prod", artifacts.package(registry.register())), None)
    assert config_of(scaled, JOB_B, 2)["InitialInstanceCount"] == carried


def test_instance_type_change_deregisters_first_and_registers_again(scaled, registry,
                                                                    artifacts, lambda_env,
                                                                    calls):
    deploy(scaled, registry, artifacts, JOB_A)
    lambda_env(prod={"autoscaling": SCALING, "instance_type": "ml.c5.xlarge"})
    first = len(calls.calls)

    assert deploy(scaled, registry, artifacts, JOB_B) == "PutJobSuccessResult"

    order = [c for c in calls.calls[first:] if c in (
        "DeleteScalingPolicy", "DeregisterScalableTarget", "UpdateEndpoint",
        "RegisterScalableTarget", "PutScalingPolicy")]
    assert order == ["DeleteScalingPolicy", "DeregisterScalableTarget", "UpdateEndpoint",
                     "RegisterScalableTarget", "PutScalingPolicy"]
    assert config_of(scaled, JOB_B, 2)["InstanceType"] == "ml.c5.xlarge"
    assert registration() == expected()


def test_rollback_of_an_instance_type_change_restores_scaling(scaled, registry, artifacts,
                                                              lambda_env):
    deploy(scaled, registry, artifacts, JOB_A)
    lambda_env(prod={"autoscaling": SCALING, "instance_type": "ml.c5.xlarge"})

    assert deploy(scaled, registry, artifacts, JOB_B, roll_back=True) == "PutJobFailureResult"

    assert scaled.last_reply()[1]["failureDetails"]["message"].startswith(
        "SageMaker rolled the update")
    assert moto_endpoint(f"{PREFIX}-prod").endpoint_config_name == f"{PREFIX}-prod-v1-a1b2c3d4"
    assert registration() == expected()


def test_changed_bounds_apply_with_the_next_deploy(scaled, registry, artifacts, lambda_env):
    deploy(scaled, registry, artifacts, JOB_A)
    lambda_env(prod={"autoscaling": {"min_instances": 2, "max_instances": 10,
                                     "target_invocations_per_instance": 300}})
    deploy(scaled, registry, artifacts, JOB_B)
    assert registration() == expected(max_instances=10, target=300.0)


def test_configured_cooldowns_reach_the_scaling_policy(scaled, registry, artifacts, lambda_env):
    lambda_env(prod={"autoscaling": {**SCALING, "scale_out_cooldown_seconds": 120,
                                     "scale_in_cooldown_seconds": 900}})
    deploy(scaled, registry, artifacts, JOB_A)
    assert registration() == expected(scale_out=120, scale_in=900)


def test_autoscaling_removed_from_the_settings_is_deregistered(scaled, registry, artifacts,
                                                               lambda_env):
    deploy(scaled, registry, artifacts, JOB_A)
    assert registration() == expected()
    lambda_env(prod={"autoscaling": None})

    assert deploy(scaled, registry, artifacts, JOB_B) == "PutJobSuccessResult"

    assert registration() == ([], [])
    assert "autoscaling removed" in scaled.last_reply()[1]["executionDetails"]["summary"]


def test_stage_without_autoscaling_never_registers(fake, registry, artifacts, calls):
    deploy(fake, registry, artifacts, JOB_A)
    deploy(fake, registry, artifacts, JOB_B)
    assert registration() == ([], [])
    assert calls.count("RegisterScalableTarget") == calls.count("PutScalingPolicy") == 0
    assert config_of(fake, JOB_B, 2)["InitialInstanceCount"] == 2  # the configured count


def test_registration_refused_fails_the_job_naming_the_call(scaled, registry, artifacts):
    autoscaling_client = lambda_aws.client("application-autoscaling")
    autoscaling_client.meta.events.register_first(
        "before-call.application-auto-scaling.RegisterScalableTarget",
        lambda **_: error("AccessDeniedException", "not authorized to perform: "
                          "application-autoscaling:RegisterScalableTarget"))
    assert deploy(scaled, registry, artifacts, JOB_A) == "PutJobFailureResult"
    details = scaled.last_reply()[1]["failureDetails"]
    assert details["type"] == "PermissionError"
    assert details["message"].startswith("application-autoscaling:RegisterScalableTarget failed")
    tags = {t["Key"]: t["Value"] for t in scaled.sm.list_tags(ResourceArn=scaled.sm.
            describe_endpoint_config(EndpointConfigName=f"{PREFIX}-prod-v1-a1b2c3d4")
            ["EndpointConfigArn"])["Tags"]}
    assert tags["mlops:outcome"].startswith("failed (")


@pytest.mark.parametrize("scaling, expected_error", [
    ({"min_instances": 3, "max_instances": 2, "target_invocations_per_instance": 100},
     "prod.autoscaling.max_instances: 2 is below min_instances 3"),
    ({"min_instances": 3, "max_instances": 5, "target_invocations_per_instance": 100},
     "prod.autoscaling: initial_instance_count 2 is outside min_instances..max_instances"),
    ({"min_instances": 1, "max_instances": 5, "target_invocations_per_instance": 0},
     "prod.autoscaling.target_invocations_per_instance: 0 is outside 1..1000000"),
    ({"min_instances": 1, "max_instances": 5}, "target_invocations_per_instance: not set"),
    ({"min_instances": 1, "max_instances": 5, "target_invocations_per_instance": 9,
      "cooldown": 5}, "prod.autoscaling.cooldown: unknown setting"),
    ({**SCALING, "scale_in_cooldown_seconds": 3601},
     "prod.autoscaling.scale_in_cooldown_seconds: 3601 is outside 0..3600"),
    ({**SCALING, "scale_out_cooldown_seconds": "60"},
     'prod.autoscaling.scale_out_cooldown_seconds: expected an integer, got "60"'),
    ([1, 5], "prod.autoscaling: expected an object, got list"),
])
def test_bad_autoscaling_settings_are_refused(scaling, expected_error):
    from deploy_helpers import lambda_environment

    with pytest.raises(ConfigurationFailure, match=expected_error.replace(".", r"\.")):
        load_settings(lambda_environment(prod={"autoscaling": scaling}))


def test_update_refused_after_deregistering_gives_scaling_back(scaled, registry, artifacts,
                                                               lambda_env):
    deploy(scaled, registry, artifacts, JOB_A)
    lambda_env(prod={"autoscaling": SCALING, "instance_type": "ml.c5.xlarge"})
    lambda_aws.client("sagemaker").meta.events.register_first(
        "before-call.sagemaker.UpdateEndpoint",
        lambda **_: error("ResourceLimitExceeded", "account limit for ml.c5.xlarge reached"))

    assert deploy(scaled, registry, artifacts, JOB_B) == "PutJobFailureResult"

    assert scaled.last_reply()[1]["failureDetails"]["message"].startswith(
        "sagemaker:UpdateEndpoint failed: ResourceLimitExceeded: account limit for ml.c5.xlarge "
        "reached")
    assert moto_endpoint(f"{PREFIX}-prod").endpoint_config_name == f"{PREFIX}-prod-v1-a1b2c3d4"
    assert registration() == expected()


TWO_VARIANTS = [{"name": "Blue", "weight": 3.0}, {"name": "Green", "weight": 1.0}]
# The dev stack's prod alarms: the IAM sufficiency test judges these calls against dev's policies.
TWO_VARIANT_ALARMS = [f"{PREFIX}-prod-5xx-errors", f"{PREFIX}-prod-model-latency"]


def test_every_variant_serves_the_package_with_its_weight_and_scales(fake, lambda_env, registry,
                                                                    artifacts):
    """Variants are data: each gets the new model with its weight and the stage's count, its
    own scalable target and policy; a later update carries each variant's scaled-out size."""
    lambda_env(prod={"autoscaling": SCALING, "variants": TWO_VARIANTS,
                     "alarm_names": TWO_VARIANT_ALARMS})
    assert deploy(fake, registry, artifacts, JOB_A) == "PutJobSuccessResult"
    variants = fake.sm.describe_endpoint_config(
        EndpointConfigName=f"{PREFIX}-prod-v1-{JOB_A[:8]}")["ProductionVariants"]
    assert [(v["VariantName"], v["InitialVariantWeight"], v["InitialInstanceCount"],
             v["ModelName"]) for v in variants] == [
        ("Blue", 3.0, 2, f"{PREFIX}-prod-v1-{JOB_A[:8]}"),
        ("Green", 1.0, 2, f"{PREFIX}-prod-v1-{JOB_A[:8]}")]
    targets, policies = registration()
    assert sorted(t["ResourceId"] for t in targets) == [
        f"endpoint/{PREFIX}-prod/variant/Blue", f"endpoint/{PREFIX}-prod/variant/Green"]
    assert sorted(p["PolicyName"] for p in policies) == [
        f"{PREFIX}-prod-Blue-invocations-per-instance",
        f"{PREFIX}-prod-Green-invocations-per-instance"]
    endpoint = moto_endpoint(f"{PREFIX}-prod")
    for variant, count in zip(endpoint.production_variants, (5, 3)):
        variant["DesiredInstanceCount"] = variant["CurrentInstanceCount"] = count
    assert deploy(fake, registry, artifacts, JOB_B) == "PutJobSuccessResult"
    update = [params for name, params in fake.calls if name == "UpdateEndpoint"][-1]
    assert [a["AlarmName"] for a in update["DeploymentConfig"]["AutoRollbackConfiguration"][
        "Alarms"]] == TWO_VARIANT_ALARMS
    variants = fake.sm.describe_endpoint_config(
        EndpointConfigName=f"{PREFIX}-prod-v2-{JOB_B[:8]}")["ProductionVariants"]
    assert [(v["VariantName"], v["InitialInstanceCount"]) for v in variants] == [
        ("Blue", 5), ("Green", 3)]
