"""Constants, event builders and the fake for what moto lacks, shared by the deploy-step tests.

moto lacks sagemaker UpdateEndpoint and codepipeline PutJobSuccessResult/PutJobFailureResult;
`FakeAws` answers those through botocore `before-call` handlers, records the exact parameters,
and drives the moto endpoint through the states SageMaker would (Updating, rolled back, Failed).
What the fake enforces comes from AWS's documentation, not from the deploy step:
- CodePipeline takes one result per job and refuses another with InvalidJobStateException
  (API_PutJobSuccessResult / API_PutJobFailureResult, "Errors"); a continuation is a new job
  that carries the token ("Future jobs use this token", API_PutJobSuccessResult).
- SageMaker names are unique per account and region: a second CreateModel /
  CreateEndpointConfig / CreateEndpoint of a name fails with ValidationException "Cannot create
  already existing ..." (moto overwrites instead).
- UpdateEndpoint that changes the instance type of a variant registered with Application Auto
  Scaling fails ("Update endpoints that use auto scaling", SageMaker developer guide); a model
  change alone is allowed.
"""
from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PROJECT, ENV = "fraud-mlops", "dev"
PREFIX = f"{PROJECT}-{ENV}"
GROUP = f"{PREFIX}-models"
BUCKET = f"{PREFIX}-artifacts-{ACCOUNT}-{REGION}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-sagemaker-serving"
KMS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CAPTURE_URI = f"s3://{BUCKET}/data-capture"
CLAIMS_URI = f"s3://{BUCKET}/deploy-claims"
EXPERIMENTS_URI = f"s3://{BUCKET}/experiments"
SECRET_KEY = "artifact-secret-key-must-not-be-logged"
SESSION_TOKEN = "artifact-session-token-must-not-be-logged"
SMOKE_CSV = "12.5,3,1,4,2.0,1,0,400,5000.0,2000.0,0,0,0,0,0,0,0,0,0,0\n" \
            "250.0,23,6,7,60.0,1,1,31,1000.0,900.0,1,1,1,1,1,1,1,1,1,1"

JOB_A = "a1b2c3d4-0000-4000-8000-000000000001"
JOB_B = "b5e6f7a8-0000-4000-8000-000000000002"


def stage_settings(stage: str, **overrides) -> dict:
    settings = {
        "endpoint_name": f"{PREFIX}-{stage}",
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1 if stage == "staging" else 2,
        "accept_pending_approval": stage == "staging",
        "deployment": {"strategy": "all_at_once" if stage == "staging" else "canary",
                       "canary_percent": 50, "linear_step_percent": 20, "wait_seconds": 60,
                       "termination_wait_seconds": 120, "max_execution_timeout_seconds": 3600},
        "alarm_names": [f"{PREFIX}-{stage}-5xx-errors", f"{PREFIX}-{stage}-model-latency"],
        "data_capture_percent": 100 if stage == "staging" else 20,
        "keep_previous": 1,
        "smoke_test": stage == "staging",
        "variants": [{"name": "AllTraffic", "weight": 1.0}],
        "region": REGION, "execution_role_arn": ROLE_ARN, "kms_key_arn": KMS_ARN,
        "data_capture_s3_uri": CAPTURE_URI,
        "role_arn": None, "external_id": None,
    }
    settings.update(overrides)
    return settings


def lambda_environment(**stage_overrides) -> dict:
    stages = {s: stage_settings(s, **stage_overrides.get(s, {})) for s in ("staging", "prod")}
    return {
        "PROJECT_NAME": PROJECT, "ENVIRONMENT": ENV, "RESOURCE_PREFIX": PREFIX,
        "MODEL_PACKAGE_GROUP": GROUP,
        "SMOKE_TEST_CSV": SMOKE_CSV, "STAGE_SETTINGS": json.dumps(stages),
        "JOB_CLAIMS_S3_URI": CLAIMS_URI,
        "EXPERIMENTS_S3_URI": EXPERIMENTS_URI,
    }


def moto_endpoint(name: str, account: str = ACCOUNT, region: str = REGION):
    return moto_backend(account, region).endpoints[name]


def moto_backend(account: str = ACCOUNT, region: str = REGION):
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account][region]


def caller_account(request_signer) -> str:
    """The account a call acts in: moto's, from the access key that signs it (an assumed role's
    key acts in the role's account; https://docs.getmoto.org/en/latest/docs/multi_account.html)."""
    from moto.iam.models import get_account_id_from

    return get_account_id_from(request_signer._credentials.access_key)


def _ok(parsed: dict):
    return AWSResponse("https://fake", 200, {}, None), parsed


def error(code: str, message: str, status: int = 400):
    return (AWSResponse("https://fake", status, {}, None),
            {"Error": {"Code": code, "Message": message},
             "ResponseMetadata": {"HTTPStatusCode": status}})


class FakeAws:
    """Answers the calls moto lacks and records every call the tests assert on."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.refused: list[tuple[str, dict]] = []
        self.results: dict[str, tuple[str, dict]] = {}
        self.inference_body = json.dumps({"predictions": [
            {"probability": 0.02, "label": 0}, {"probability": 0.91, "label": 1}]}).encode()
        # (service, operation, account) of every call the deploy step's clients make.
        self.accounts: list[tuple[str, str, str]] = []
        # On the session, before any client of the function exists: every client made later
        # (its own, and a stage's with an assumed role's credentials) copies these handlers.
        session_events = lambda_aws.session().events
        session_events.register("before-call", self._note_account)
        session_events.register("before-call.sagemaker.UpdateEndpoint", self._update_endpoint)
        for operation in ("CreateModel", "CreateEndpointConfig", "CreateEndpoint"):
            session_events.register(f"before-call.sagemaker.{operation}", self._unique_name)
        session_events.register("before-call.sagemaker-runtime.InvokeEndpoint",
                                self._invoke_endpoint)
        self.sm = lambda_aws.session().client("sagemaker", region_name=REGION)
        events = lambda_aws.client("codepipeline").meta.events
        events.register("before-call.codepipeline.PutJobSuccessResult", self._record)
        events.register("before-call.codepipeline.PutJobFailureResult", self._record)

    # -- handlers ------------------------------------------------------------------------------
    def _record(self, model, params, **_):
        body = json.loads(params["body"])
        if body["jobId"] in self.results:
            self.refused.append((model.name, body))
            return error("InvalidJobStateException",
                         f"Job {body['jobId']} is not in a state that accepts a result")
        self.results[body["jobId"]] = (model.name, body)
        self.calls.append((model.name, body))
        return _ok({})

    def _note_account(self, model, request_signer, **_):
        self.accounts.append((model.service_model.service_name, model.name,
                              caller_account(request_signer)))

    def _unique_name(self, model, params, request_signer, **_):
        body = json.loads(params["body"])
        kind, name = {
            "CreateModel": ("model", body.get("ModelName")),
            "CreateEndpointConfig": ("endpoint configuration", body.get("EndpointConfigName")),
            "CreateEndpoint": ("endpoint", body.get("EndpointName")),
        }[model.name]
        account, region = caller_account(request_signer), request_signer._region_name
        backend = moto_backend(account, region)
        existing = {"model": backend._models, "endpoint configuration": backend.endpoint_configs,
                    "endpoint": backend.endpoints}[kind]
        if name in existing:
            self.calls.append((f"{model.name}Refused", body))
            return error("ValidationException", f'Cannot create already existing {kind} '
                         f'"arn:aws:sagemaker:{region}:{account}:{kind.split()[0]}/{name}".')
        return None

    def _update_endpoint(self, model, params, request_signer, **_):
        body = json.loads(params["body"])
        self.calls.append((model.name, body))
        account, region = caller_account(request_signer), request_signer._region_name
        endpoint = moto_endpoint(body["EndpointName"], account, region)
        backend = moto_backend(account, region)
        new_type = backend.endpoint_configs[body["EndpointConfigName"]].production_variants[0][
            "InstanceType"]
        old_type = backend.endpoint_configs[endpoint.endpoint_config_name].production_variants[
            0]["InstanceType"]
        if new_type != old_type and self.scalable_targets(body["EndpointName"], account,
                                                          region):
            return error("ValidationException",
                         "The variant(s) \"[AllTraffic]\" are configured for auto scaling; "
                         "deregister them before changing the instance type")
        endpoint.endpoint_status = "Updating"
        endpoint.pending_deployment_summary = {"EndpointConfigName": body["EndpointConfigName"]}
        return _ok({"EndpointArn": endpoint.arn})

    def _invoke_endpoint(self, model, params, **_):
        self.calls.append((model.name, {"EndpointName": params["url_path"].split("/")[2],
                                        "headers": dict(params["headers"]),
                                        "body": params["body"]}))
        body = self.inference_body
        return _ok({"Body": StreamingBody(io.BytesIO(body), len(body)),
                    "ContentType": "application/json"})

    # -- driving the endpoint ------------------------------------------------------------------
    def scalable_targets(self, endpoint_name: str, account: str = ACCOUNT,
                         region: str = REGION) -> list[dict]:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        if account != ACCOUNT or region != REGION:
            targets = applicationautoscaling_backends[account][region].targets
            return [rid for by_id in targets.values() for rid in by_id
                    if rid.startswith(f"endpoint/{endpoint_name}/variant/")]
        client = lambda_aws.session().client("application-autoscaling", region_name=REGION)
        return client.describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[f"endpoint/{endpoint_name}/variant/AllTraffic"])["ScalableTargets"]

    def finish_update(self, endpoint_name: str, account: str = ACCOUNT,
                      region: str = REGION) -> None:
        endpoint = moto_endpoint(endpoint_name, account, region)
        endpoint.endpoint_config_name = endpoint.pending_deployment_summary["EndpointConfigName"]
        # RetainAllVariantProperties=False: the fleet is the new config's.
        endpoint.production_variants = endpoint._process_production_variants(
            moto_backend(account, region).endpoint_configs[
                endpoint.endpoint_config_name].production_variants)
        endpoint.pending_deployment_summary = None
        endpoint.endpoint_status = "InService"

    def roll_back(self, endpoint_name: str, reason: str | None = None, account: str = ACCOUNT,
                  region: str = REGION) -> None:
        endpoint = moto_endpoint(endpoint_name, account, region)
        endpoint.pending_deployment_summary = None
        endpoint.endpoint_status = "InService"
        endpoint.failure_reason = reason

    def set_status(self, endpoint_name: str, status: str, reason: str | None = None) -> None:
        endpoint = moto_endpoint(endpoint_name)
        endpoint.endpoint_status = status
        endpoint.failure_reason = reason

    # -- what was called -----------------------------------------------------------------------
    def named(self, operation: str) -> list[dict]:
        return [params for name, params in self.calls if name == operation]

    @property
    def replies(self) -> list[tuple[str, dict]]:
        return [(n, p) for n, p in self.calls if n.startswith("PutJob")]

    def last_reply(self) -> tuple[str, dict]:
        assert self.replies, "the job was never answered"
        return self.replies[-1]


_continuations = itertools.count(1)


def continuation_job_id(job_id: str) -> str:
    """CodePipeline continues an action with a new job carrying the token: a new job ID each
    time."""
    return f"c{next(_continuations):07x}" + job_id[8:]


def job_id_of(event: dict) -> str:
    return event["CodePipeline.job"]["id"]


def job_event(job_id: str, stage="staging", key: str | None = None, token: str | None = None,
              user_parameters: str | None = None) -> dict:
    if token is not None:
        job_id = continuation_job_id(job_id)
    data = {
        "actionConfiguration": {"configuration": {
            "FunctionName": f"{PREFIX}-deploy",
            "UserParameters": user_parameters if user_parameters is not None
            else json.dumps({"stage": stage})}},
        "inputArtifacts": [] if key is None else [{
            "name": "TestOutput", "revision": None,
            "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": key}}}],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "ASIAARTIFACTKEY", "secretAccessKey": SECRET_KEY,
                                "sessionToken": SESSION_TOKEN},
    }
    if token is not None:
        data["continuationToken"] = token
    return {"CodePipeline.job": {"id": job_id, "accountId": ACCOUNT, "data": data}}


def deploy_to_in_service(fake, artifacts, arn, job_id, stage="staging"):
    """First call + one poll; returns the continuation token of the first reply."""
    key = artifacts.package(arn)
    assert handler(job_event(job_id, stage, key), None) == {"status": "replied"}
    name, reply = fake.last_reply()
    assert name == "PutJobSuccessResult" and "continuationToken" in reply
    if fake.named("UpdateEndpoint"):
        fake.finish_update(f"{PREFIX}-{stage}")
    handler(job_event(job_id, stage, key, token=reply["continuationToken"]), None)
    return reply["continuationToken"]


def client_events(service: str):
    """The client's emitter and an event every call emits (nothing answers it)."""
    client = lambda_aws.client(service)
    return (client.meta.events,
            f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}")


class CallLog:
    """Every AWS call the deploy step makes (through its cached clients), in order."""

    SERVICES = ("s3", "sagemaker", "codepipeline", "application-autoscaling",
                "sagemaker-runtime", "cloudwatch")

    def __init__(self):
        self.calls: list[str] = []
        for service in self.SERVICES:
            events, prefix = client_events(service)
            events.register_first(prefix, self._record)

    def _record(self, model, **_):
        self.calls.append(model.name)

    def count(self, operation: str) -> int:
        return self.calls.count(operation)


# --- config/prod.json: the multi-account example ------------------------------------------------
# Its names and accounts, so tests/infra/test_iam_cross_account.py and test_iam_regions.py can
# judge the calls made in its stage accounts against its stacks; moto's default account stands
# for its tooling account 111111111111 (the registry, the artifacts, the job claims).
PROD_PREFIX = f"{PROJECT}-prod"
PROD_GROUP = f"{PROD_PREFIX}-models"
PROD_ACCOUNTS = {"staging": "222222222222", "prod": "333333333333"}
PROD_TOOLING_BUCKET = f"{PROD_PREFIX}-artifacts-111111111111-{REGION}"
PROD_MODEL_KEY = f"training/{PROD_PREFIX}-20261122T024900-abcdef12/output/model.tar.gz"


# config/prod.json's subnets and security groups of each stage (stages[].network), which the
# stage deployer's CreateModel is conditioned on (tests/infra/test_iam_regions.py and
# test_iam_cross_account.py judge it).
PROD_NETWORKS = {s["name"]: s["network"] for s in json.loads(
    (Path(__file__).resolve().parents[2] / "config" / "prod.json").read_text())["stages"]}


def vpc(network: dict) -> dict:
    return {"subnets": network["subnet_ids"], "security_group_ids": network["security_group_ids"]}


def prod_environment(stages: dict) -> dict:
    """The function's environment in prod (infra/deploy_function.py), with `stages` as its
    STAGE_SETTINGS."""
    return {"PROJECT_NAME": PROJECT, "ENVIRONMENT": "prod", "RESOURCE_PREFIX": PROD_PREFIX,
            "MODEL_PACKAGE_GROUP": PROD_GROUP, "STAGE_SETTINGS": json.dumps(stages)}


def prod_placement(stage: str, **overrides) -> dict:
    """Where prod's `stage` is served: its account's deployer, serving role, key and capture
    bucket, as the prod stack writes them."""
    account = PROD_ACCOUNTS[stage]
    return stage_settings(stage, **{
        "endpoint_name": f"{PROD_PREFIX}-{stage}",
        "alarm_names": [f"{PROD_PREFIX}-{stage}-5xx-errors",
                        f"{PROD_PREFIX}-{stage}-model-latency"],
        "role_arn": f"arn:aws:iam::{account}:role/{PROD_PREFIX}-deployer",
        "external_id": f"{PROD_PREFIX}-deploy",
        "execution_role_arn": f"arn:aws:iam::{account}:role/{PROD_PREFIX}-sagemaker-serving",
        "kms_key_arn": f"arn:aws:kms:{REGION}:{account}:alias/{PROD_PREFIX}",
        "data_capture_s3_uri": f"s3://{PROD_PREFIX}-artifacts-{account}-{REGION}/data-capture",
        "vpc_config": vpc(PROD_NETWORKS[stage]),
        **overrides})


def register_prod_package() -> str:
    """A package as the train job registers it (docs/interfaces.md), in prod's group, its
    artifact in the tooling bucket."""
    sm = lambda_aws.session().client("sagemaker", region_name=REGION)
    if not sm.list_model_package_groups(NameContains=PROD_GROUP)["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=PROD_GROUP)
    return sm.create_model_package(
        ModelPackageGroupName=PROD_GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification=inference_specification(
            f"s3://{PROD_TOOLING_BUCKET}/{PROD_MODEL_KEY}"))["ModelPackageArn"]


def inference_specification(model_data_url: str) -> dict:
    """A package's InferenceSpecification as the train job registers it (docs/interfaces.md;
    pipeline_src.jobs.common is stdlib only: it runs on the Lambda's runtime too)."""
    from pipeline_src.jobs.common import serving_environment

    return {"Containers": [{"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/"
                                     "sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
                            "ModelDataUrl": model_data_url,
                            "Environment": serving_environment(REGION)}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"]}
