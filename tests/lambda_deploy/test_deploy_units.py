"""Pieces a deploy relies on: names, the DeploymentConfig per strategy."""
from __future__ import annotations

import json

import pytest

from deploy_helpers import lambda_environment
from lambda_deploy import deploy
from lambda_deploy.errors import ConfigurationFailure
from lambda_deploy.settings import load_settings
from lambda_deploy.smoke_test import contract_violation


def settings(**overrides):
    return load_settings(lambda_environment(**overrides))


@pytest.mark.infra
def test_names_are_deterministic_and_fit_the_budget():
    from infra import naming

    s = settings()
    job = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    name = deploy.resource_name(s, "staging", 999999, job)
    assert name == "fraud-mlops-dev-staging-v999999-0a1b2c3d"
    assert name == deploy.resource_name(s, "staging", 999999, job)
    # The budget infra/naming.py reserves after the prefix is what the deploy step uses.
    assert len(name) - len(s.prefix) == naming.name_suffix_max("staging")
    assert naming.SAGEMAKER_NAME_RE.fullmatch(name)


def test_name_over_63_characters_is_a_configuration_error():
    env = lambda_environment()
    long_project = "p" * 40
    env.update(PROJECT_NAME=long_project, RESOURCE_PREFIX=f"{long_project}-dev")
    env["STAGE_SETTINGS"] = env["STAGE_SETTINGS"].replace("fraud-mlops-dev", f"{long_project}-dev")
    with pytest.raises(ConfigurationFailure, match="longer than 63"):
        deploy.resource_name(load_settings(env), "staging", 12, "abcdef12")


@pytest.mark.parametrize("strategy, expected_routing", [
    ("all_at_once", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}),
    ("canary", {"Type": "CANARY", "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}),
    ("linear", {"Type": "LINEAR", "WaitIntervalInSeconds": 60,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20}}),
])
def test_deployment_config_per_strategy(strategy, expected_routing):
    stage_settings = settings(prod={"deployment": {
        "strategy": strategy, "canary_percent": 50, "linear_step_percent": 20,
        "wait_seconds": 60, "termination_wait_seconds": 300,
        "max_execution_timeout_seconds": 1800}}).stages["prod"]
    assert deploy.deployment_config(stage_settings) == {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": expected_routing,
                                  "TerminationWaitInSeconds": 300,
                                  "MaximumExecutionTimeoutInSeconds": 1800},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "fraud-mlops-dev-prod-5xx-errors"},
                                                 {"AlarmName": "fraud-mlops-dev-prod-model-latency"}]},
    }


@pytest.mark.parametrize("field, value, expected", [
    ("canary_percent", 60, "canary_percent: 60 is outside 1..50"),
    ("linear_step_percent", 5, "linear_step_percent: 5 is outside 10..50"),
    ("max_execution_timeout_seconds", 300, "300 is outside 600..28800"),
])
def test_deployment_limits_of_sagemaker_are_enforced(field, value, expected):
    deployment = dict(json.loads(lambda_environment()["STAGE_SETTINGS"])["prod"]["deployment"])
    deployment[field] = value
    with pytest.raises(ConfigurationFailure, match=expected):
        settings(prod={"deployment": deployment})


def test_settings_from_a_synthesized_like_environment_load():
    s = settings()
    assert s.stages["staging"].accept_pending_approval is True
    assert s.stages["prod"].accept_pending_approval is False
    assert s.stages["prod"].data_capture_s3_uri.endswith("/data-capture")
    assert s.stages["prod"].role_arn is None  # single account: the function's own credentials


@pytest.mark.parametrize("body, rows, problem", [
    (b'{"predictions": [{"probability": 0.5, "label": 1}]}', 1, None),
    (b'{"predictions": [{"probability": 1, "label": 0}]}', 1, None),
    (b'{"predictions": [{"probability": true, "label": 0}]}', 1, "probability True"),
    (b'{"predictions": [{"probability": NaN, "label": 0}]}', 1, "probability nan"),
    (b'{"predictions": [{"probability": 0.5, "label": true}]}', 1, "label True is not 0 or 1"),
    (b'{"predictions": [{"probability": 0.5}]}', 1, "label None"),
    (b'{"predictions": [0.5]}', 1, "prediction 0 is not an object"),
])
def test_inference_contract(body, rows, problem):
    result = contract_violation(body, rows)
    assert result == problem if problem is None else problem in result
