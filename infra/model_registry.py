"""ModelRegistry: the SageMaker model package group every trained model is registered in."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.sagemaker_model_package_group import SagemakerModelPackageGroup

from infra.environment import DeploymentTarget


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
