"""ModelRegistry: the SageMaker model package group every trained model is registered in."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.sagemaker_model_package_group import SagemakerModelPackageGroup

from infra.environment import DeploymentTarget
from infra.iam import statement


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
