"""ModelRegistry: the SageMaker model package group every trained model is registered in."""
from __future__ import annotations

from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.sagemaker_model_package_group import SagemakerModelPackageGroup
from cdktf_cdktf_provider_aws.sagemaker_model_package_group_policy import (
    SagemakerModelPackageGroupPolicy)

from infra.environment import DeploymentTarget
from infra.iam import policy_document, statement


class ModelRegistry(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget) -> None:
        super().__init__(scope, id_)
        name = target.names.model_package_group
        self.group = SagemakerModelPackageGroup(
            self, "group", model_package_group_name=name,
            model_package_group_description=(
                f"{target.config.project} models for {target.config.name}: registered "
                "PendingManualApproval by the train job, Approved/Rejected by the test job"))
        self.group_name = name
        self.group_arn = target.sagemaker_arn("model-package-group", name)
        # Packages in the group: arn:...:model-package/<group>/<version>.
        self.packages_arn = target.sagemaker_arn("model-package", f"{name}/*")

    def share_with(self, stage_accounts: Sequence[DeploymentTarget]) -> None:
        """Let each stage account's deployer role describe the group's packages and create
        models from them (SageMaker guide, cross-account model registry: the group's resource
        policy grants DescribeModelPackageGroup on the group and DescribeModelPackage,
        ListModelPackages and CreateModel on model-package/<group>/*). Account principals
        narrowed to the exact roles by aws:PrincipalArn, so this applies before they exist."""
        deployers = [account.role_arn("deployer") for account in stage_accounts]
        accounts = sorted({account.account_id for account in stage_accounts})
        narrowed = {"ArnEquals": {"aws:PrincipalArn": deployers}}
        SagemakerModelPackageGroupPolicy(
            self, "policy", model_package_group_name=self.group.model_package_group_name,
            resource_policy=policy_document([
                statement("StageDeployersDescribeGroup", ["sagemaker:DescribeModelPackageGroup"],
                          [self.group_arn], principal={"AWS": accounts}, conditions=narrowed),
                statement("StageDeployersUsePackages", [
                    "sagemaker:CreateModel", "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages"], [self.packages_arn],
                    principal={"AWS": accounts}, conditions=narrowed),
            ]))

    @staticmethod
    def use_from(tooling: DeploymentTarget, *, sid: str = "UseToolingModelPackages") -> dict:
        """A stage account's side of share_with: its identity policy must allow the same calls
        on the tooling account's packages (cross-account: both sides must allow)."""
        packages = tooling.sagemaker_arn("model-package",
                                         f"{tooling.names.model_package_group}/*")
        return statement(sid, ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"],
                         [packages])

    # -- what others may do with the registry -----------------------------------------------------
    def register(self, *, sid: str = "RegisterModelPackages") -> dict:
        """CreateModelPackage is authorized against the group and the new package."""
        return statement(sid, ["sagemaker:CreateModelPackage"],
                         [self.group_arn, self.packages_arn])

    def read_packages(self, *, sid: str = "ReadModelPackages") -> dict:
        return statement(sid, ["sagemaker:DescribeModelPackage"], [self.packages_arn])

    def read_and_decide(self, *, sid: str = "ReadAndDecideModelPackages") -> dict:
        return statement(sid, ["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                         [self.packages_arn])

    @staticmethod
    def list_packages(*, sid: str = "FindChampion") -> dict:
        # ListModelPackages has no resource-level permissions in IAM; the job filters by group.
        return statement(sid, ["sagemaker:ListModelPackages"], "*")
