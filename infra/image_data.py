"""The SageMaker SDK's scikit-learn image data (registry account and repository per region),
read as a file; without cdktf, so configuration validation can ask which regions have images."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

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


def image_repository(region: str, scope: str = "inference", partition_suffix: str = "") -> str:
    """<registry>.dkr.ecr.<region>.amazonaws.com/<repository> of one region's image, no tag."""
    account, name = repository(region, scope)
    return f"{account}.dkr.ecr.{region}.amazonaws.com{partition_suffix}/{name}"
