"""A stage serving from two regions (config/prod.json's prod: eu-west-1 then eu-central-1).

moto keeps resources per account and region (https://docs.getmoto.org/en/latest/docs/
multi_account.html): the registry and the tooling bucket are in the function's account and
region (moto's default account, eu-west-1); the stage's endpoints are in the stage account,
one per region, reached through its deployer role. A package cannot be served outside its
registry's region (SageMaker API reference, ContainerDefinition: "The model artifacts must be in
an S3 bucket that is in the same region as the model"), so the secondary region's model must be
the package's container with that region's image and a copy of the artifact there: read in the
registry's region, uploaded in the secondary (Amazon S3 API reference, CopyObject: "VPC endpoints
don't support cross-Region requests (including copies)").
"""
from __future__ import annotations

import json

import boto3
import pytest

from deploy_helpers import (ACCOUNT, JOB_A, JOB_B, PROD_ACCOUNTS, PROD_GROUP, PROD_MODEL_KEY,
                            PROD_NETWORKS, PROD_PREFIX, PROD_TOOLING_BUCKET, REGION, job_event,
                            moto_backend, moto_endpoint, prod_environment, prod_placement,
                            register_prod_package, vpc)
from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler

# config/prod.json's names (tests/infra/test_iam_regions.py judges the calls against its
# stacks); moto's default account stands for its tooling account 111111111111.
PREFIX, GROUP = PROD_PREFIX, PROD_GROUP
TOOLING_BUCKET = PROD_TOOLING_BUCKET
STAGE_ACCOUNT = PROD_ACCOUNTS["prod"]
SECONDARY = "eu-central-1"
ENDPOINT = f"{PREFIX}-prod"
REGIONAL_BUCKET = f"{PREFIX}-artifacts-{STAGE_ACCOUNT}-{SECONDARY}"
# The SageMaker SDK's image data (infra/image_data.py): the scikit-learn image's registry there.
SECONDARY_IMAGE = "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-scikit-learn"
ARTIFACT = b"model artifact bytes"
SOURCE_KEY = PROD_MODEL_KEY


def placement(stage: str = "prod") -> dict:
    account = PROD_ACCOUNTS[stage]
    alarms = [f"{PREFIX}-{stage}-5xx-errors", f"{PREFIX}-{stage}-model-latency"]
    return prod_placement(stage, smoke_test=True, secondary_regions=[] if stage != "prod" else [{
        "region": SECONDARY,
        "kms_key_arn": f"arn:aws:kms:{SECONDARY}:{account}:alias/{PREFIX}",
        "data_capture_s3_uri": f"s3://{REGIONAL_BUCKET}/data-capture",
        "model_s3_uri": f"s3://{REGIONAL_BUCKET}/models",
        "image_repository": SECONDARY_IMAGE,
        "alarm_names": alarms,
        "vpc_config": vpc(PROD_NETWORKS[stage]["regions"][SECONDARY])}])


def stage_session():
    """A session acting in the stage account (moto: an assumed role's keys act there)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{STAGE_ACCOUNT}:role/setup", RoleSessionName="setup")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"])


@pytest.fixture
def regions(fake, lambda_env, monkeypatch):
    for name, value in prod_environment({s: placement(s) for s in ("staging", "prod")}).items():
        monkeypatch.setenv(name, value)
    # The train job's output in the tooling bucket, and the stage's bucket in the secondary.
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=TOOLING_BUCKET,
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=TOOLING_BUCKET, Key=SOURCE_KEY, Body=ARTIFACT)
    fake.stage = stage_session()
    fake.stage.client("s3", region_name=SECONDARY).create_bucket(
        Bucket=REGIONAL_BUCKET, CreateBucketConfiguration={"LocationConstraint": SECONDARY})
    return fake


def answer(fake, job_id: str, key: str, token: str | None = None) -> tuple[str, dict]:
    assert handler(job_event(job_id, "prod", key, token=token), None)["status"] in (
        "replied", "failed")
    return fake.last_reply()


def deploy_everywhere(fake, key: str, job_id: str, *, secondary=None) -> tuple[str, dict]:
    """Drive one deployment: primary, then the secondary (`secondary(fake)` runs while it
    updates, e.g. SageMaker rolling it back); the final reply."""
    name, reply = answer(fake, job_id, key)
    assert "continuationToken" in reply, reply
    for region in (REGION, SECONDARY):
        endpoint = moto_endpoint(ENDPOINT, STAGE_ACCOUNT, region)
        if endpoint.endpoint_status == "Updating":
            if region == SECONDARY and secondary is not None:
                secondary(fake)
            else:
                fake.finish_update(ENDPOINT, STAGE_ACCOUNT, region)
        name, reply = answer(fake, job_id, key, reply["continuationToken"])
        if "continuationToken" not in reply:
            break
    return name, reply


def serving(region: str) -> str:
    return moto_endpoint(ENDPOINT, STAGE_ACCOUNT, region).endpoint_config_name


def config_tags(region: str, name: str) -> dict:
    backend = moto_backend(STAGE_ACCOUNT, region)
    arn = backend.endpoint_configs[name].endpoint_config_arn
    return {t["Key"]: t["Value"] for t in backend.list_tags(arn)[0]}


@pytest.fixture
def package(regions, artifacts):
    arn = register_prod_package()
    return arn, artifacts.package(arn)


def test_every_region_serves_the_new_version_primary_first(regions, package):
    fake, (arn, key) = regions, package
    requests = []
    lambda_aws.session().events.register(
        "before-call.sagemaker.CreateModel",
        lambda params, **_: requests.append(json.loads(params["body"])))
    name, reply = deploy_everywhere(fake, key, JOB_A)

    assert name == "PutJobSuccessResult", reply
    config = reply["outputVariables"]["EndpointConfigName"]
    assert reply["outputVariables"]["Regions"] == f"{REGION},{SECONDARY}"
    assert serving(REGION) == serving(SECONDARY) == config
    # Primary first: every call in the secondary region comes after the primary's endpoint.
    creates = [(service, op, account) for service, op, account in fake.accounts
               if op == "CreateEndpoint"]
    assert creates == [("sagemaker", "CreateEndpoint", STAGE_ACCOUNT)] * 2
    # The primary serves the package; the secondary its container with that region's image,
    # the package's tag, and the copy of the artifact in that region's bucket.
    primary_model = moto_backend(STAGE_ACCOUNT, REGION)._models[config]
    assert [c["ModelPackageName"] for c in primary_model.containers] == [arn]
    (container,) = moto_backend(STAGE_ACCOUNT, SECONDARY)._models[config].containers
    copy = f"s3://{REGIONAL_BUCKET}/models/{GROUP}/v1/model.tar.gz"
    assert container["Image"] == f"{SECONDARY_IMAGE}:1.4-2-py312-cpu-py3"
    assert container["ModelDataUrl"] == copy
    assert container["Environment"]["SAGEMAKER_REGION"] == SECONDARY
    # Each region's model runs in that region's subnets of the stage account (CreateModel's
    # VpcConfig, primary first), its container still without network.
    for request, region, network in zip(requests, (REGION, SECONDARY), (
            PROD_NETWORKS["prod"], PROD_NETWORKS["prod"]["regions"][SECONDARY]), strict=True):
        vpc_config = {"Subnets": network["subnet_ids"],
                      "SecurityGroupIds": network["security_group_ids"]}
        assert request["VpcConfig"] == vpc_config and request["EnableNetworkIsolation"] is True
        assert moto_backend(STAGE_ACCOUNT, region)._models[config].vpc_config == vpc_config
    body = fake.stage.client("s3", region_name=SECONDARY).get_object(
        Bucket=REGIONAL_BUCKET, Key=f"models/{GROUP}/v1/model.tar.gz")["Body"].read()
    assert body == ARTIFACT
    # The record: each region's config carries the package ARN and version.
    for region in (REGION, SECONDARY):
        tags = config_tags(region, config)
        assert tags["mlops:model-package-arn"] == arn
        assert tags["mlops:model-package-version"] == "1"
        assert tags["mlops:outcome"].startswith("succeeded")
    # The smoke test ran against each region's endpoint, as the stage's role there.
    assert len(fake.named("InvokeEndpoint")) == 2
    # Every endpoint call acts in the stage account; in the tooling account only the registry
    # (the test registered the package there).
    assert {op for s, op, a in fake.accounts if s in ("sagemaker", "sagemaker-runtime")
            and a != STAGE_ACCOUNT} == {"ListModelPackageGroups", "CreateModelPackageGroup",
                                        "CreateModelPackage", "DescribeModelPackage"}


def second_version(fake, artifacts) -> tuple[str, str, str]:
    """v1 served in both regions; v2 registered. (v1 config, v2 ARN, v2 artifact key)."""
    _, reply = deploy_everywhere(fake, artifacts.package(register_prod_package()), JOB_A)
    previous = reply["outputVariables"]["EndpointConfigName"]
    v2 = register_prod_package()
    return previous, v2, artifacts.package(v2)


def rolled_back_secondary(fake, artifacts):
    """v1 everywhere, then v2: the primary updates, SageMaker rolls the secondary's update back.
    (v1 config, v2 artifact key, the reply that started waiting for the primary to go back,
    the UpdateEndpoint calls of v2's deployment)."""
    previous, _, key = second_version(fake, artifacts)
    updates_before = len(fake.named("UpdateEndpoint"))

    def sagemaker_rolls_back(fake):
        fake.roll_back(ENDPOINT, f"CloudWatch alarm {PREFIX}-prod-5xx-errors",
                       STAGE_ACCOUNT, SECONDARY)

    name, reply = deploy_everywhere(fake, key, JOB_B, secondary=sagemaker_rolls_back)
    assert name == "PutJobSuccessResult" and "continuationToken" in reply, reply
    return previous, key, reply, fake.named("UpdateEndpoint")[updates_before:]


def test_a_secondary_rolled_back_after_the_primary_succeeded_sends_the_primary_back(
        regions, artifacts):
    """The primary is sent back (blue/green, its own guardrails) and the step waits for that
    update in its continuations: the stage fails only once the primary serves the previous
    version again, and the failure says so."""
    fake = regions
    previous, key, reply, updates = rolled_back_secondary(fake, artifacts)

    # Not failed yet: the primary is going back.
    summary = reply["executionDetails"]["summary"]
    assert summary.startswith(f"{SECONDARY}: SageMaker rolled the update of endpoint {ENDPOINT} "
                              "back")
    assert summary.endswith(f"waiting for {REGION} to go back to {previous} (blue/green update "
                            "started)")
    # primary to v2, secondary to v2 (rolled back by SageMaker), primary back to v1 with the
    # same guardrails as every update.
    assert [u["EndpointConfigName"] for u in updates] == [updates[0]["EndpointConfigName"]] * 2 \
        + [previous]
    assert updates[2]["DeploymentConfig"] == updates[0]["DeploymentConfig"]
    assert moto_endpoint(ENDPOINT, STAGE_ACCOUNT, REGION).pending_deployment_summary == {
        "EndpointConfigName": previous}
    assert serving(SECONDARY) == previous
    new = updates[0]["EndpointConfigName"]
    for region in (REGION, SECONDARY):
        assert config_tags(region, new)["mlops:outcome"].startswith("failed"), region

    # While the update back runs, a continuation only polls and asks to be called again.
    update_count = len(fake.named("UpdateEndpoint"))
    name, again = answer(fake, JOB_B, key, reply["continuationToken"])
    assert name == "PutJobSuccessResult" and again["continuationToken"] == reply[
        "continuationToken"]
    assert again["executionDetails"]["summary"].endswith(
        f"waiting for {REGION} to go back to the previous version")
    fake.finish_update(ENDPOINT, STAGE_ACCOUNT, REGION)
    name, final = answer(fake, JOB_B, key, again["continuationToken"])

    assert name == "PutJobFailureResult", final
    message = final["failureDetails"]["message"]
    assert message.startswith(f"{SECONDARY}: SageMaker rolled the update of endpoint {ENDPOINT} "
                              "back")
    assert message.endswith(f"Regions already serving the new version: {REGION} went back to "
                            f"{previous} (blue/green update finished).")
    assert serving(REGION) == serving(SECONDARY) == previous
    # Waiting updated nothing; nothing was cleaned up.
    assert len(fake.named("UpdateEndpoint")) == update_count
    for region in (REGION, SECONDARY):
        assert previous in moto_backend(STAGE_ACCOUNT, region).endpoint_configs


def test_waiting_for_the_primary_to_go_back_survives_duplicates_and_late_deliveries(
        regions, artifacts):
    """Each continuation is a new CodePipeline job: a duplicate delivery of one, or one
    delivered again after later ones (out of order), is refused by its claim and changes
    nothing; a token of the deployment from before the failure is refused as stale."""
    fake = regions
    previous, key, reply, updates = rolled_back_secondary(fake, artifacts)
    waiting = reply["continuationToken"]
    first = job_event(JOB_B, "prod", key, token=waiting)
    assert handler(first, None) == {"status": "replied"}
    second = job_event(JOB_B, "prod", key, token=waiting)
    assert handler(second, None) == {"status": "replied"}
    replies, update_count = len(fake.replies), len(fake.named("UpdateEndpoint"))
    # The first continuation again, after the second (and the second twice).
    assert handler(first, None) == {"status": "duplicate"}
    assert handler(second, None) == {"status": "duplicate"}
    assert len(fake.replies) == replies
    # The token that started the secondary, delivered with a new job: its deployment ended.
    (stale,) = [r["continuationToken"] for n, r in fake.replies if "continuationToken" in r
                and json.loads(r["continuationToken"]).get("reg") == SECONDARY
                and "back" not in json.loads(r["continuationToken"])
                and json.loads(r["continuationToken"])["config"] == updates[0][
                    "EndpointConfigName"]]
    name, refused = answer(fake, JOB_B, key, stale)
    assert name == "PutJobFailureResult"
    assert "continuation token rejected" in refused["failureDetails"]["message"]
    assert len(fake.named("UpdateEndpoint")) == update_count
    # The waiting token still leads to the answer once the primary is back.
    fake.finish_update(ENDPOINT, STAGE_ACCOUNT, REGION)
    name, final = answer(fake, JOB_B, key, waiting)
    assert name == "PutJobFailureResult"
    assert final["failureDetails"]["message"].endswith(
        f"{REGION} went back to {previous} (blue/green update finished).")


def test_a_primary_that_does_not_finish_going_back_is_reported_as_such(regions, artifacts,
                                                                        monkeypatch):
    """Past the update's time limit (the stage's MaximumExecutionTimeout, termination wait
    and grace) the step stops waiting and fails saying the primary did not finish going back."""
    from lambda_deploy import monitor

    fake = regions
    previous, key, reply, _ = rolled_back_secondary(fake, artifacts)
    token = json.loads(reply["continuationToken"])
    monkeypatch.setattr(monitor, "GRACE_SECONDS", -10**9)
    name, final = answer(fake, JOB_B, key, reply["continuationToken"])
    assert name == "PutJobFailureResult", final
    assert f"{REGION}: the update back to {previous} did not finish within " in final[
        "failureDetails"]["message"]
    assert token["back"] == [[REGION, previous]]


def test_a_waiting_token_is_refused_when_its_config_is_not_the_failed_deployment(
        regions, artifacts):
    fake = regions
    previous, key, reply, _ = rolled_back_secondary(fake, artifacts)
    token = json.loads(reply["continuationToken"])
    token["config"], token["back"] = previous, [[REGION, token["config"]]]
    name, refused = answer(fake, JOB_B, key, json.dumps(token))
    assert name == "PutJobFailureResult"
    assert "continuation token rejected" in refused["failureDetails"]["message"]
    assert f"{previous} in {REGION} is not the failed deployment" in refused[
        "failureDetails"]["message"]


def test_a_first_deploy_whose_secondary_fails_keeps_the_primary_it_created(regions, package):
    """Policy: a region this deployment created has no previous version; it keeps serving
    (taking it down would leave the stage with fewer regions), and the job fails naming it."""
    fake, (_, key) = regions, package
    fake.stage.client("s3", region_name=SECONDARY).delete_bucket(Bucket=REGIONAL_BUCKET)

    name, reply = deploy_everywhere(fake, key, JOB_A)

    assert name == "PutJobFailureResult", reply
    message = reply["failureDetails"]["message"]
    assert message.startswith(f"{SECONDARY}: s3:PutObject s3://{REGIONAL_BUCKET}/models/")
    assert f"(copy of s3://{TOOLING_BUCKET}/{SOURCE_KEY}) failed" in message
    assert "NoSuchBucket" in message
    assert f"{REGION} keeps serving" in message and "no previous version" in message
    assert ENDPOINT not in moto_backend(STAGE_ACCOUNT, SECONDARY).endpoints
    assert not moto_backend(STAGE_ACCOUNT, SECONDARY)._models


def test_a_duplicate_delivery_of_the_continuation_that_starts_the_secondary_does_nothing(
        regions, package):
    fake, (_, key) = regions, package
    _, reply = answer(fake, JOB_A, key)
    event = job_event(JOB_A, "prod", key, token=reply["continuationToken"])
    replies = len(fake.replies)

    assert handler(event, None) == {"status": "replied"}
    assert handler(event, None) == {"status": "duplicate"}

    assert len(fake.replies) == replies + 1
    assert len(moto_backend(STAGE_ACCOUNT, SECONDARY)._models) == 1
    token = json.loads(fake.last_reply()[1]["continuationToken"])
    assert token["reg"] == SECONDARY and token["done"] == [[REGION, None]]


def test_a_token_naming_a_region_the_stage_does_not_serve_is_refused(regions, package):
    fake, (_, key) = regions, package
    _, reply = answer(fake, JOB_A, key)
    token = json.loads(reply["continuationToken"])
    token["reg"] = "us-east-1"

    _, reply = answer(fake, JOB_A, key, json.dumps(token))

    assert reply["failureDetails"]["message"].startswith(
        "continuation token names region 'us-east-1', which stage prod does not serve from")
    assert ENDPOINT not in moto_backend(STAGE_ACCOUNT, "us-east-1").endpoints


# --- an artifact larger than one part: copied across invocations ---------------------------------
# S3's smallest part but the last is 5 MiB (Amazon S3 User Guide, "Amazon S3 multipart upload
# limits"; moto enforces it): three parts of 5 MiB, the last shorter.
PART = 5 * 1024 * 1024
LARGE = bytes(range(256)) * (2 * PART // 256) + b"tail of the artifact" * 1000


@pytest.fixture
def large_artifact(regions, monkeypatch):
    from lambda_deploy import regions as lambda_regions

    monkeypatch.setattr(lambda_regions, "PART_BYTES", PART)
    # One part per invocation: each continuation carries the upload on.
    monkeypatch.setattr(lambda_regions, "COPY_SECONDS", 0)
    boto3.client("s3", region_name=REGION).put_object(Bucket=TOOLING_BUCKET, Key=SOURCE_KEY,
                                                      Body=LARGE)
    return regions


def copied_object() -> bytes:
    from moto.s3.models import s3_backends

    return s3_backends[STAGE_ACCOUNT]["aws"].get_object(
        REGIONAL_BUCKET, f"models/{GROUP}/v1/model.tar.gz").value


def test_a_large_artifact_is_copied_a_part_per_invocation(large_artifact, package):
    """The copy to the secondary is a multipart upload carried in the continuation token: each
    invocation uploads its parts and hands the upload on; the region's endpoint starts once the
    copy is complete, and the copy holds the artifact's bytes."""
    fake, (_, key) = large_artifact, package
    parts = []
    lambda_aws.session().events.register(
        "before-call.s3.UploadPart", lambda params, **_: parts.append(params["url_path"]))
    name, reply = answer(fake, JOB_A, key)
    tokens = []
    while "continuationToken" in reply:
        tokens.append(json.loads(reply["continuationToken"]))
        name, reply = answer(fake, JOB_A, key, reply["continuationToken"])

    assert name == "PutJobSuccessResult", reply
    copying = [t for t in tokens if t["act"] == "copy"]
    # Parts 1 and 2 each in their own invocation; part 3 and the completion in the third,
    # which also starts the region's endpoint.
    assert [(t["reg"], t["cp"][1:]) for t in copying] == [
        (SECONDARY, [2, len(LARGE)]), (SECONDARY, [3, len(LARGE)])]
    assert len({t["cp"][0] for t in copying}) == 1
    assert len(parts) == 3
    assert copied_object() == LARGE
    assert serving(SECONDARY) == serving(REGION)


def test_a_copy_invocation_delivered_twice_or_late_leaves_the_copy_whole(large_artifact,
                                                                        package):
    """A duplicate delivery of a copying continuation is refused by its claim; the same token
    carried again by a new job (a part uploaded twice) replaces that part: the copy completes
    with the artifact's bytes."""
    fake, (_, key) = large_artifact, package
    _, reply = answer(fake, JOB_A, key)
    _, reply = answer(fake, JOB_A, key, reply["continuationToken"])   # primary done, part 1
    first_copy = reply["continuationToken"]
    event = job_event(JOB_A, "prod", key, token=first_copy)
    assert handler(event, None) == {"status": "replied"}                # part 2
    assert handler(event, None) == {"status": "duplicate"}
    _, reply = answer(fake, JOB_A, key, first_copy)                   # part 2 again
    assert json.loads(reply["continuationToken"])["cp"][1] == 3
    name, reply = answer(fake, JOB_A, key, reply["continuationToken"])
    while "continuationToken" in reply:
        name, reply = answer(fake, JOB_A, key, reply["continuationToken"])
    assert name == "PutJobSuccessResult", reply
    assert copied_object() == LARGE


def test_a_copy_that_cannot_go_on_is_aborted_and_fails_the_stage(large_artifact, package):
    """The artifact changed between two parts (a ranged read comes back short): the upload is
    aborted (S3 frees its parts) and the stage fails naming it; the primary, created by this
    deployment, keeps serving."""
    fake, (_, key) = large_artifact, package
    aborted = []
    lambda_aws.session().events.register(
        "before-call.s3.AbortMultipartUpload", lambda params, **_: aborted.append(1))
    _, reply = answer(fake, JOB_A, key)
    _, reply = answer(fake, JOB_A, key, reply["continuationToken"])   # part 1
    boto3.client("s3", region_name=REGION).put_object(Bucket=TOOLING_BUCKET, Key=SOURCE_KEY,
                                                      Body=LARGE[:PART + 10])
    name, reply = answer(fake, JOB_A, key, reply["continuationToken"])

    assert name == "PutJobFailureResult", reply
    message = reply["failureDetails"]["message"]
    assert message.startswith(f"{SECONDARY}: model artifact s3://{TOOLING_BUCKET}/{SOURCE_KEY} "
                              "changed while it was copied")
    assert f"{REGION} keeps serving" in message
    assert aborted == [1]
    from moto.s3.models import s3_backends

    assert not s3_backends[STAGE_ACCOUNT]["aws"].buckets[REGIONAL_BUCKET].multiparts
