"""`python main.py teardown`: finds the deploy step's resources by tag, lists, deletes in order."""
from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

import main as entry
from ops import teardown
from tests.moto_accounts import fake_credentials

REGION = "eu-west-1"  # config/dev.json and config/prod.json
ROLE = "arn:aws:iam::123456789012:role/fraud-mlops-dev-sagemaker-execution"


def tags(environment="dev", stage="staging", created_by="deploy-step", project="fraud-mlops"):
    return [{"Key": "mlops:project", "Value": project},
            {"Key": "mlops:environment", "Value": environment},
            {"Key": "mlops:stage", "Value": stage},
            {"Key": "mlops:created-by", "Value": created_by}]


def make(sm, name, resource_tags, endpoint=True):
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, Containers=[{"Image": "img"}],
                    Tags=resource_tags)
    sm.create_endpoint_config(EndpointConfigName=name, Tags=resource_tags, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    if endpoint:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=resource_tags)


def inventory(sm):
    return (sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
            sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
            sorted(m["ModelName"] for m in sm.list_models()["Models"]))


@pytest.fixture
def sm(monkeypatch):
    fake_credentials(monkeypatch, REGION)
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        make(client, "fraud-mlops-dev-staging", tags(stage="staging"))
        make(client, "fraud-mlops-dev-prod-v3-abcdef12", tags(stage="prod"), endpoint=False)
        # Not ours: another environment, a hand-made look-alike, another creator.
        make(client, "fraud-mlops-prod-staging", tags(environment="prod"))
        make(client, "fraud-mlops-dev-manual", [])
        make(client, "fraud-mlops-dev-other-tool", tags(created_by="terraform"))
        yield client


@pytest.fixture
def calls(monkeypatch):
    """The SageMaker operations teardown performs, in order."""
    seen = []
    real = teardown._call

    def recording(client, operation, **kwargs):
        seen.append((operation, kwargs.get("EndpointName") or kwargs.get("EndpointConfigName")
                     or kwargs.get("ModelName")))
        return real(client, operation, **kwargs)

    monkeypatch.setattr(teardown, "_call", recording)
    return seen


OURS = ["fraud-mlops-dev-prod-v3-abcdef12", "fraud-mlops-dev-staging"]
NOT_OURS = ["fraud-mlops-dev-manual", "fraud-mlops-dev-other-tool", "fraud-mlops-prod-staging"]


def test_dry_run_lists_what_it_would_delete_and_deletes_nothing(sm, capsys):
    before = inventory(sm)
    assert entry.main(["teardown", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "deploy-step resources for environment dev (fraud-mlops-dev, eu-west-1):" in out
    assert "endpoint         fraud-mlops-dev-staging  (stage staging, InService)" in out
    assert "endpoint-config  fraud-mlops-dev-prod-v3-abcdef12  (stage prod)" in out
    assert "dry run: nothing deleted. Re-run with --yes to delete these 5 resources." in out
    for name in NOT_OURS:
        assert name not in out
    assert inventory(sm) == before


def test_yes_deletes_only_tagged_resources_endpoints_first(sm, calls, capsys):
    assert teardown.main(["--env", "dev", "--yes"]) == 0
    assert inventory(sm) == (["fraud-mlops-dev-manual", "fraud-mlops-dev-other-tool",
                              "fraud-mlops-prod-staging"], NOT_OURS, NOT_OURS)
    deletes = [c for c in calls if c[0].startswith("delete_")]
    assert deletes == [("delete_endpoint", "fraud-mlops-dev-staging"),
                       ("delete_endpoint_config", "fraud-mlops-dev-staging"),
                       ("delete_endpoint_config", "fraud-mlops-dev-prod-v3-abcdef12"),
                       ("delete_model", "fraud-mlops-dev-staging"),
                       ("delete_model", "fraud-mlops-dev-prod-v3-abcdef12")]
    assert "deleted 5 resources for environment dev" in capsys.readouterr().out
    # Running it again is harmless.
    assert teardown.main(["--env", "dev", "--yes"]) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_other_environment_is_found_by_its_own_tags(sm):
    assert teardown.main(["--env", "prod", "--yes", "--no-wait"]) == 0
    endpoints, configs, models = inventory(sm)
    assert "fraud-mlops-prod-staging" not in endpoints + configs + models
    assert set(OURS) <= set(configs)


def test_region_override_looks_in_that_region(sm, capsys):
    assert teardown.main(["--env", "dev", "--region", "us-east-1", "--yes"]) == 0
    assert "nothing to delete" in capsys.readouterr().out
    assert inventory(sm)[2] == sorted(OURS + NOT_OURS)


@pytest.mark.parametrize("argv, expected", [
    ([], "error: the following arguments are required: --env"),
    (["--env", "qa"], "error: environment 'qa': no such environment; available: dev, prod"),
    (["--env", "dev", "--force"], "error: unrecognized arguments: --force"),
])
def test_bad_input_is_one_line_and_exit_2(argv, expected, capsys):
    assert teardown.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_no_credentials_is_one_line_telling_what_to_do(monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert teardown.main(["--env", "dev"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials found; set AWS_PROFILE")
    assert err.count("\n") == 1


def _deny(operation):
    def handler(model, **_):
        if model.name == operation:
            return (AWSResponse("https://fake", 400, {}, None),
                    {"Error": {"Code": "AccessDeniedException",
                               "Message": f"not authorized to perform sagemaker:{operation}"},
                     "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None
    return handler


@pytest.fixture
def deny(monkeypatch):
    """deny("ListModels") makes that SageMaker call fail with AccessDenied."""
    real_client = boto3.session.Session.client

    def install(operation):
        def client(self, *args, **kwargs):
            made = real_client(self, *args, **kwargs)
            made.meta.events.register("before-call.sagemaker.*", _deny(operation))
            return made
        monkeypatch.setattr(boto3.session.Session, "client", client)
    return install


def test_aws_failure_while_listing_names_the_call_and_exits_1(sm, deny, capsys):
    deny("ListModels")
    assert teardown.main(["--env", "dev", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: sagemaker:ListModels failed: AccessDeniedException: ")
    assert err.count("\n") == 1
    assert len(inventory(sm)[0]) == 4  # nothing was deleted: listing failed first


def test_failed_deletion_is_reported_and_the_rest_still_goes(sm, deny, capsys):
    deny("DeleteEndpoint")
    assert teardown.main(["--env", "dev", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "error: sagemaker:DeleteEndpoint failed" in err
    assert "(fraud-mlops-dev-staging)" in err
    endpoints, configs, models = inventory(sm)
    assert "fraud-mlops-dev-staging" in endpoints
    assert configs == NOT_OURS and models == NOT_OURS


@pytest.fixture
def credentials(monkeypatch):
    fake_credentials(monkeypatch)


@pytest.mark.parametrize("argv, env, expected", [
    (["--region", "Europe"], {}, "error: --region 'Europe': not an AWS region name, e.g. eu-west-1"),
    ([], {"AWS_PROFILE": "no-such-profile"},
     "error: AWS profile 'no-such-profile' not found (AWS_PROFILE)"),
    ([], {"AWS_ENDPOINT_URL_SAGEMAKER": "not a url"},
     "error: cannot set up a SageMaker client for eu-west-1: Invalid endpoint: not a url"),
])
def test_bad_aws_setup_is_one_line_and_exit_2(credentials, monkeypatch, tmp_path, argv, env,
                                              expected, capsys):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert teardown.main(["--env", "dev", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert err.count("\n") == 1


def test_a_silent_endpoint_fails_within_the_timeouts(credentials, monkeypatch, capsys):
    """An endpoint that accepts the connection and never answers: bounded attempts, one line,
    exit 1 (the hostile-input table runs the same with the real timeouts)."""
    import time

    from tests.silent_server import silent_server

    monkeypatch.setattr(teardown, "LIMITS", teardown.aws_clients.Limits(
        connect_seconds=teardown.LIMITS.connect_seconds, read_seconds=1, attempts=2))
    with silent_server() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        started = time.monotonic()
        assert teardown.main(["--env", "dev"]) == 1
        elapsed = time.monotonic() - started
        attempts = len(server.connections)
    assert elapsed < 30
    err = capsys.readouterr().err
    assert err.startswith("error: sagemaker:ListEndpoints failed: Read timeout on endpoint URL")
    assert err.count("\n") == 1
    assert attempts == 2  # bounded retries: two attempts, then the error


def test_every_call_gives_up_within_the_budget(credentials):
    """Timeouts and attempts bound one call, backoff included (the hostile-input table runs a
    real silent server against the real settings)."""
    limits = teardown.LIMITS
    assert limits.worst_case_seconds() <= teardown.GIVE_UP_SECONDS
    config = teardown.sagemaker_client(REGION).meta.config
    assert (config.connect_timeout, config.read_timeout) == (limits.connect_seconds,
                                                             limits.read_seconds)
    assert config.retries["total_max_attempts"] == limits.attempts


def _autoscale(endpoint: str) -> str:
    """Register the endpoint's variant as the deploy step does (moto implements the API)."""
    client = boto3.client("application-autoscaling", region_name=REGION)
    resource_id = f"endpoint/{endpoint}/variant/AllTraffic"
    client.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=1, MaxCapacity=4)
    client.put_scaling_policy(
        PolicyName=f"{endpoint}-invocations-per-instance", ServiceNamespace="sagemaker",
        ResourceId=resource_id, ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 200.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    return resource_id


def _scaling_state():
    client = boto3.client("application-autoscaling", region_name=REGION)
    targets = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return sorted(t["ResourceId"] for t in targets), sorted(p["PolicyName"] for p in policies)


def test_autoscaling_of_our_endpoints_goes_first_and_only_ours(sm, calls, capsys):
    ours = _autoscale("fraud-mlops-dev-staging")
    theirs = _autoscale("fraud-mlops-prod-staging")

    assert teardown.main(["--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "scaling-policy   fraud-mlops-dev-staging-invocations-per-instance  (stage staging)" \
        in out
    assert f"scalable-target  {ours}  (stage staging)" in out
    assert "these 7 resources" in out and theirs not in out
    assert _scaling_state()[0] == sorted([ours, theirs])

    assert teardown.main(["--env", "dev", "--yes", "--no-wait"]) == 0
    assert _scaling_state() == ([theirs], ["fraud-mlops-prod-staging-invocations-per-instance"])
    order = [op for op, _ in calls if op.startswith(("delete_", "deregister_"))]
    assert order[:3] == ["delete_scaling_policy", "deregister_scalable_target",
                         "delete_endpoint"]
    assert "deleted 7 resources" in capsys.readouterr().out


def test_without_a_region_it_goes_through_every_region_the_environment_serves_from(sm, capsys):
    """config/prod.json's prod stage also serves from eu-central-1 (secondary_regions): the
    endpoint there is found and deleted too, the region named on its lines."""
    secondary = boto3.client("sagemaker", region_name="eu-central-1")
    make(secondary, "fraud-mlops-prod-prod", tags(environment="prod", stage="prod"))

    assert entry.main(["teardown", "--env", "prod", "--yes", "--no-wait"]) == 0

    out = capsys.readouterr().out
    assert "deploy-step resources for environment prod (fraud-mlops-prod, eu-west-1):" in out
    assert "deleted 3 resources for environment prod (fraud-mlops-prod, eu-central-1)" in out
    assert inventory(secondary) == ([], [], [])
    # --region keeps to the one region.
    make(secondary, "fraud-mlops-prod-prod", tags(environment="prod", stage="prod"))
    assert entry.main(["teardown", "--env", "prod", "--region", "eu-west-1", "--yes",
                       "--no-wait"]) == 0
    assert "eu-central-1" not in capsys.readouterr().out
    assert inventory(secondary)[0] == ["fraud-mlops-prod-prod"]
