"""TeardownRole: in a stage account, the role `python main.py teardown` acts as (ops/teardown.py).

The deploy step's endpoints, endpoint configs, models and scaling are not in Terraform state, so
they are removed before `cdktf destroy`. In a stage account that is done as this role, whoever
runs it: trust is exactly the tooling account's provisioning role (config `provisioning_role`,
the role Terraform applies the stacks as: who may destroy the stacks may remove what the deploy
step left; without one, the tooling account itself) with the ExternalId `<prefix>-teardown`.
Grants: only teardown's calls, on this environment's resources (names `<prefix>-*`), deleting only
what carries the environment's ownership tags.
"""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from infra.environment import DeploymentTarget
from infra.iam import policy_document, statement
from lambda_deploy.scaling import DIMENSION as SCALABLE_DIMENSION
from lambda_deploy.scaling import NAMESPACE as SCALING_NAMESPACE

TEARDOWN = "teardown"


def teardown_principal(tooling: DeploymentTarget) -> str:
    """Who may assume a stage account's teardown role: the tooling account's provisioning role,
    else the tooling account (its administrators then grant sts:AssumeRole on the role)."""
    role = tooling.config.provisioning_role
    return tooling.arn("iam", f"role/{role}", regional=False) if role else tooling.root_arn


class TeardownRole(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 tooling: DeploymentTarget) -> None:
        super().__init__(scope, id_)
        names, prefix = target.names, target.names.prefix
        # The account's region and the secondary regions its stages serve from (teardown goes
        # through each: ops/teardown.py).
        regions = [target.in_region(region) for region in dict.fromkeys([target.region, *(
            r for s in target.config.stages if s.account_id == target.account_id
            for r in s.secondary_regions)])]
        resources = [regional.sagemaker_arn(kind, f"{prefix}-*") for regional in regions
                     for kind in ("endpoint", "endpoint-config", "model")]
        trust = policy_document([statement(
            "AssumedByToolingProvisioningRoleOnly", ["sts:AssumeRole"], None,
            principal={"AWS": teardown_principal(tooling)},
            conditions={"StringEquals": {"sts:ExternalId": names.teardown_external_id}})])
        role = IamRole(self, "role", name=names.role(TEARDOWN),
                       description=f"python main.py teardown --env {target.config.name} removes "
                                   "the deploy step's endpoints in this account as this role",
                       assume_role_policy=trust, max_session_duration=3600)
        IamRolePolicy(self, "policy", role=role.id, name="teardown", policy=policy_document([
            # List calls have no resource-level permissions; teardown lists names containing
            # the prefix and reads the tags of those starting with it.
            statement("ListEndpointsConfigsModels", ["sagemaker:ListEndpointConfigs",
                                                     "sagemaker:ListEndpoints",
                                                     "sagemaker:ListModels"], "*"),
            statement("ReadTagsOfThisEnvironmentsNames", ["sagemaker:ListTags"], resources),
            # Waiting for an endpoint to be gone: by name (a deleted one has no tags).
            statement("WaitForEndpointDeletion", ["sagemaker:DescribeEndpoint"],
                      resources[::3]),
            statement("DeleteOwnEndpointsConfigsModels", [
                "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig",
                "sagemaker:DeleteModel"], resources,
                conditions={"StringEquals": target.owned("ResourceTag")}),
            # Describe* have no resource-level permissions or condition keys; the write
            # actions take only a generated scalable-target ID, pinned by the condition keys to
            # SageMaker variant counts.
            statement("ReadScaling", ["application-autoscaling:DescribeScalableTargets",
                                      "application-autoscaling:DescribeScalingPolicies"], "*"),
            statement("RemoveEndpointScaling", [
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:DeregisterScalableTarget"], "*",
                conditions={"StringEquals": {
                    "application-autoscaling:service-namespace": SCALING_NAMESPACE,
                    "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION}}),
            # Deleting a target-tracking policy deletes its alarms as the caller (Service
            # Authorization Reference: DeleteScalingPolicy's dependent actions), named
            # TargetTracking-<resource id>-....
            statement("RemoveTargetTrackingAlarms", ["cloudwatch:DeleteAlarms",
                                                     "cloudwatch:DescribeAlarms"],
                      [regional.arn("cloudwatch", f"alarm:TargetTracking-endpoint/{prefix}-*")
                       for regional in regions]),
        ]))
        self.role_arn = role.arn
