"""The deploy function's role follows the environment's settings: it may change the instance
counts only of the endpoints of stages whose config sets `autoscaling`."""
from __future__ import annotations

import json

import pytest

from infra.app import synthesize
from infra.config import load_environment

STAGING_SCALING = {"min_instances": 1, "max_instances": 2, "target_invocations_per_instance": 100}


def _scaled_endpoints(config, outdir) -> list[str] | None:
    """Resources of the deploy role's ScaleOwnEndpoints statement, None when it has none."""
    (path,) = synthesize([config], outdir).values()
    stack = json.loads(path.read_text(encoding="utf-8"))
    for policy in stack["resource"]["aws_iam_role_policy"].values():
        if policy["name"] != "deploy":
            continue
        for statement in json.loads(policy["policy"])["Statement"]:
            if statement["Sid"] == "ScaleOwnEndpoints":
                return [arn.rsplit("/", 1)[1] for arn in statement["Resource"]]
        return None
    raise AssertionError("no deploy role policy in the stack")


@pytest.mark.parametrize("overrides, expected", [
    ({}, ["fraud-mlops-dev-prod"]),  # config/dev.json: prod autoscales, staging does not
    ({"stages": [{"name": "staging", "autoscaling": STAGING_SCALING}]},
     ["fraud-mlops-dev-staging", "fraud-mlops-dev-prod"]),
    ({"stages": [{"name": "prod", "autoscaling": None}]}, None),
], ids=["prod only", "both stages", "no stage"])
def test_scaling_grant_names_only_the_endpoints_of_stages_that_autoscale(tmp_path, overrides,
                                                                         expected):
    config = load_environment("dev", overrides=overrides)
    assert _scaled_endpoints(config, tmp_path / "out") == expected
