"""ContainerImages: the SageMaker scikit-learn images the training jobs and models run.

The registry account and repository per region come from the SageMaker SDK's own image data
(``sagemaker/core/image_uri_config/sklearn.json``, what ``image_uris.retrieve`` reads at run
time in the train job), read as a file: importing the SDK costs ~10 s of every synth.
"""
from __future__ import annotations

from infra.config import ConfigError
from infra.environment import DeploymentTarget
from infra.iam import statement
# The SDK's image data, in a module of its own: configuration validation reads it too.
from infra.image_data import SCOPES, regions_with_images, repository
from pipeline_src import SKLEARN_FRAMEWORK_VERSION


class ContainerImages:
    """The images of one region (and of the secondary regions a role also serves in); hands out
    the pull permission for them."""

    def __init__(self, target: DeploymentTarget, secondary_regions=()) -> None:
        self.target = target
        if target.region not in regions_with_images():
            raise ConfigError(
                f"config/{target.config.name}.json.region: {target.region!r} has no SageMaker "
                f"scikit-learn {SKLEARN_FRAMEWORK_VERSION} image; regions that have it: "
                f"{', '.join(regions_with_images())}")
        # A secondary region serves only models (infra/config.py checked it has the images).
        self.repository_arns = sorted({
            f"arn:{target.partition}:ecr:{target.region}:{account}:repository/{name}"
            for account, name in (repository(target.region, s) for s in SCOPES)} | {
            f"arn:{target.partition}:ecr:{region}:{account}:repository/{name}"
            for region in secondary_regions
            for account, name in [repository(region, "inference")]})

    def pull(self) -> list[dict]:
        """What a role running these images needs (SageMaker pulls them as the job's role)."""
        return [
            statement("PullScikitLearnImages", ["ecr:BatchCheckLayerAvailability",
                                                 "ecr:BatchGetImage",
                                                 "ecr:GetDownloadUrlForLayer"],
                      self.repository_arns),
            # GetAuthorizationToken has no resource-level permissions in IAM.
            statement("GetRegistryToken", ["ecr:GetAuthorizationToken"], "*"),
        ]
