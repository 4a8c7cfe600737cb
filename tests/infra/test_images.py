"""infra/images.py reads the SageMaker SDK's image data; the repository it scopes ECR pulls to is
the one the train job's image lookup (the SDK's image_uris.retrieve) returns."""
from __future__ import annotations

import pytest

from infra.images import SCOPES, repository


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_repository_matches_the_sdk_image_uri(region):
    from sagemaker.core import image_uris

    from pipeline_src import SKLEARN_FRAMEWORK_VERSION

    for scope in SCOPES:
        uri = image_uris.retrieve("sklearn", region=region, version=SKLEARN_FRAMEWORK_VERSION,
                                  image_scope=scope, instance_type="ml.m5.large")
        registry, _, path = uri.partition("/")
        assert repository(region, scope) == (registry.split(".")[0], path.split(":")[0])


def test_unknown_region_is_refused_naming_it():
    with pytest.raises(ValueError, match="no SageMaker scikit-learn training image .* in mars-1"):
        repository("mars-1", "training")
