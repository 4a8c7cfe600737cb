"""ContainerImages: the SageMaker scikit-learn images the training jobs and models run.

The registry account and repository per region come from the SageMaker SDK's own image data
(``sagemaker/core/image_uri_config/sklearn.json``, what ``image_uris.retrieve`` reads at run
time in the train job), read as a file: importing the SDK costs ~10 s of every synth.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from infra.config import ConfigError
from infra.environment import DeploymentTarget
from infra.iam import statement
from pipeline_src import SKLEARN_FRAMEWORK_VERSION

SCOPES = ("training", "inference")


@lru_cache(maxsize=None)
def _sdk_image_config() -> dict:
    spec = find_spec("sagemaker")  # top-level: located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the SageMaker SDK's sagemaker-core package is not installed: run "
                           "`make setup-run`")
    path = Path(list(spec.submodule_search_locations)[0]) / "core" / "image_uri_config" / \
        "sklearn.json"
    return json.loads(path.read_text(encoding="utf-8"))


def regions_with_images() -> list[str]:
    """Regions that have both the training and the inference image of the pinned version."""
    per_scope = [set(_sdk_image_config()[s]["versions"][SKLEARN_FRAMEWORK_VERSION]["registries"])
                 for s in SCOPES]
    return sorted(set.intersection(*per_scope))


def repository(region: str, scope: str) -> tuple[str, str]:
    """(registry account, repository name) of the scikit-learn image for one region and scope."""
    versions = _sdk_image_config()[scope]["versions"]
    entry = versions[SKLEARN_FRAMEWORK_VERSION]
    registries = entry["registries"]
    if region not in registries:
        raise ValueError(f"no SageMaker scikit-learn {scope} image for "
                         f"{SKLEARN_FRAMEWORK_VERSION} in {region}")
    return registries[region], entry["repository"]


class ContainerImages:
    """The images of one region; hands out the pull permission for them."""

    def __init__(self, target: DeploymentTarget) -> None:
        self.target = target
        if target.region not in regions_with_images():
            raise ConfigError(
                f"config/{target.config.name}.json.region: {target.region!r} has no SageMaker "
                f"scikit-learn {SKLEARN_FRAMEWORK_VERSION} image; regions that have it: "
                f"{', '.join(regions_with_images())}")
        self.repository_arns = sorted({
            f"arn:{target.partition}:ecr:{target.region}:{account}:repository/{name}"
            for account, name in (repository(target.region, s) for s in SCOPES)})

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
