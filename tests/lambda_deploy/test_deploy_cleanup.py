"""After a good deploy, old configs/models of the stage go; the last good ones stay for rollback."""
from __future__ import annotations

from deploy_helpers import PREFIX, deploy_to_in_service, job_event
from lambda_deploy.handler import handler


def job(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012d}"


def names(fake) -> tuple[list[str], list[str]]:
    configs = sorted(c["EndpointConfigName"]
                     for c in fake.sm.list_endpoint_configs()["EndpointConfigs"])
    models = sorted(m["ModelName"] for m in fake.sm.list_models()["Models"])
    return configs, models


def roll_back_deploy(fake, registry, artifacts, job_id, stage="prod"):
    key = artifacts.package(registry.register())
    handler(job_event(job_id, stage, key), None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.roll_back(f"{PREFIX}-{stage}")
    handler(job_event(job_id, stage, key, token=token), None)
    assert fake.last_reply()[0] == "PutJobFailureResult"


def test_keeps_previous_good_deploys_and_drops_rolled_back_ones(fake, registry, artifacts):
    # keep_previous is 1 in the test environment.
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), "prod")   # v1 good
    roll_back_deploy(fake, registry, artifacts, job(2))                           # v2 rolled back
    assert names(fake)[0] == [f"{PREFIX}-prod-v1-00000001", f"{PREFIX}-prod-v2-00000002"]

    deploy_to_in_service(fake, artifacts, registry.register(), job(3), "prod")   # v3 good

    # v2 never served traffic, so the one kept for a manual rollback is v1, not v2.
    expected = [f"{PREFIX}-prod-v1-00000001", f"{PREFIX}-prod-v3-00000003"]
    assert names(fake) == (expected, expected)

    deploy_to_in_service(fake, artifacts, registry.register(), job(4), "prod")   # v4 good

    expected = [f"{PREFIX}-prod-v3-00000003", f"{PREFIX}-prod-v4-00000004"]
    assert names(fake) == (expected, expected)
    assert fake.last_reply()[0] == "PutJobSuccessResult"


def test_keep_previous_zero_keeps_only_the_live_config(fake, registry, artifacts, lambda_env):
    lambda_env(prod={"keep_previous": 0})
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), "prod")
    deploy_to_in_service(fake, artifacts, registry.register(), job(2), "prod")
    assert names(fake) == ([f"{PREFIX}-prod-v2-00000002"], [f"{PREFIX}-prod-v2-00000002"])
    live = fake.sm.describe_endpoint(EndpointName=f"{PREFIX}-prod")["EndpointConfigName"]
    assert live == f"{PREFIX}-prod-v2-00000002"


def test_cleanup_touches_only_this_stage_and_tagged_resources(fake, registry, artifacts,
                                                              lambda_env):
    lambda_env(prod={"keep_previous": 0}, staging={"keep_previous": 0})
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), "staging")
    # Someone's hand-made config that merely looks like ours: no deploy-step tags.
    lookalike = f"{PREFIX}-prod-v9-handmade"
    fake.sm.create_model(ModelName=lookalike, ExecutionRoleArn="arn:aws:iam::1:role/x",
                         Containers=[{"Image": "x"}])
    fake.sm.create_endpoint_config(EndpointConfigName=lookalike, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": lookalike, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    deploy_to_in_service(fake, artifacts, registry.register(), job(2), "prod")
    deploy_to_in_service(fake, artifacts, registry.register(), job(3), "prod")

    configs, models = names(fake)
    assert configs == models == sorted([f"{PREFIX}-staging-v1-00000001", lookalike,
                                        f"{PREFIX}-prod-v3-00000003"])


def test_the_live_config_is_tagged_as_deployed(fake, registry, artifacts):
    deploy_to_in_service(fake, artifacts, registry.register(), job(1), "staging")
    config = fake.sm.describe_endpoint_config(EndpointConfigName=f"{PREFIX}-staging-v1-00000001")
    tags = {t["Key"]: t["Value"]
            for t in fake.sm.list_tags(ResourceArn=config["EndpointConfigArn"])["Tags"]}
    assert "mlops:deployed-at" in tags
