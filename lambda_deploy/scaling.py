"""Endpoint autoscaling: Application Auto Scaling target tracking on invocations per instance.

AWS's procedure for endpoints that autoscale ("Update endpoints that use auto scaling",
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html): an update that
only changes the model is allowed while the variant is a scalable target; an update that changes
the variant's instance type fails unless its scaling policies are deleted and the variant is
deregistered first, and it is registered again (with its policy) after the update. The deploy
step follows that, and carries the variant's current instance count into the new endpoint
config so a blue/green update does not shrink a fleet that has scaled out.
"""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.errors import aws_failure
from lambda_deploy.logs import log
from lambda_deploy.settings import DEFAULT_VARIANT, StageSettings

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    # One policy per variant; the first variant's keeps the name it had when there was one.
    return f"{endpoint}-invocations-per-instance" if variant == DEFAULT_VARIANT \
        else f"{endpoint}-{variant}-invocations-per-instance"


def _call(operation: str, **request):
    client = aws.target("application-autoscaling")
    api = "".join(part.title() for part in operation.split("_"))
    try:
        return getattr(client, operation)(**request)
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"application-autoscaling:{api}", exc) from None


def is_registered(endpoint: str, variant: str) -> bool:
    response = _call("describe_scalable_targets", ServiceNamespace=NAMESPACE,
                     ResourceIds=[resource_id(endpoint, variant)], ScalableDimension=DIMENSION)
    return bool(response.get("ScalableTargets"))


def register(stage: StageSettings, variant: str) -> None:
    """Register the variant and its target-tracking policy (both calls update in place)."""
    scaling = stage.autoscaling
    target = resource_id(stage.endpoint_name, variant)
    _call("register_scalable_target", ServiceNamespace=NAMESPACE, ResourceId=target,
          ScalableDimension=DIMENSION, MinCapacity=scaling.min_instances,
          MaxCapacity=scaling.max_instances)
    _call("put_scaling_policy", PolicyName=policy_name(stage.endpoint_name, variant),
          ServiceNamespace=NAMESPACE, ResourceId=target, ScalableDimension=DIMENSION,
          PolicyType="TargetTrackingScaling",
          TargetTrackingScalingPolicyConfiguration={
              "TargetValue": float(scaling.target_invocations_per_instance),
              "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
              "ScaleOutCooldown": scaling.scale_out_cooldown_seconds,
              "ScaleInCooldown": scaling.scale_in_cooldown_seconds})
    log("autoscaling_registered", resource_id=target, min=scaling.min_instances,
        max=scaling.max_instances, target=scaling.target_invocations_per_instance)


def deregister(endpoint: str, variant: str) -> None:
    """Delete the variant's scaling policies, then deregister it (AWS's order)."""
    target = resource_id(endpoint, variant)
    policies = _call("describe_scaling_policies", ServiceNamespace=NAMESPACE,
                     ResourceId=target, ScalableDimension=DIMENSION).get("ScalingPolicies", [])
    for policy in policies:
        _call("delete_scaling_policy", PolicyName=policy["PolicyName"],
              ServiceNamespace=NAMESPACE, ResourceId=target, ScalableDimension=DIMENSION)
    _call("deregister_scalable_target", ServiceNamespace=NAMESPACE, ResourceId=target,
          ScalableDimension=DIMENSION)
    log("autoscaling_deregistered", resource_id=target,
        policies=[p["PolicyName"] for p in policies])


def apply(stage: StageSettings) -> str:
    """After the endpoint is InService: make each variant's scaling match the stage settings."""
    removed = False
    for variant in stage.variants:
        if stage.autoscaling is not None:
            register(stage, variant.name)
        elif is_registered(stage.endpoint_name, variant.name):
            deregister(stage.endpoint_name, variant.name)
            removed = True
    if stage.autoscaling is not None:
        s = stage.autoscaling
        return (f"autoscaling {s.min_instances}..{s.max_instances} instances at "
                f"{s.target_invocations_per_instance} invocations/instance/minute")
    return "autoscaling removed (not configured for this stage)" if removed \
        else "fixed instance count"


def carried_instance_counts(stage: StageSettings, endpoint: dict | None) -> dict[str, int]:
    """Instance count of each variant for a new endpoint config: the variant's current fleet
    size, within bounds, when it autoscales; the configured count otherwise."""
    current = {v.get("VariantName"): v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount")
               for v in (endpoint or {}).get("ProductionVariants", [])}
    counts = {}
    for variant in stage.variants:
        count = current.get(variant.name)
        if stage.autoscaling is None or not isinstance(count, int):
            counts[variant.name] = stage.initial_instance_count
        else:
            counts[variant.name] = max(stage.autoscaling.min_instances,
                                       min(stage.autoscaling.max_instances, count))
    return counts
