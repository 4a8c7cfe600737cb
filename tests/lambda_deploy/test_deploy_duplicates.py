"""At-least-once delivery: every repeat of a job, in sequence or interleaved, does nothing twice.

Lambda may deliver an asynchronous event more than once ("Lambda asynchronous invocation",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html: "the function might receive
the same event multiple times ... handle duplicate events"); CodePipeline takes one result per
job (InvalidJobStateException on another, enforced by FakeAws). Each case asserts the exact
calls: no second CreateModel / CreateEndpointConfig / CreateEndpoint / UpdateEndpoint, no reply
refused, and the repeat ends as "duplicate" without touching SageMaker.
"""
from __future__ import annotations

import copy

import pytest

from deploy_helpers import (JOB_A, JOB_B, PREFIX, client_events,
                            deploy_to_in_service, job_event, job_id_of, moto_endpoint)
from lambda_deploy import aws as lambda_aws
from lambda_deploy.handler import handler

CREATES = ("CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint")


def creates_and_updates(calls) -> dict:
    return {op: calls.count(op) for op in CREATES}


# -- repeats in sequence -------------------------------------------------------------------------

def test_repeat_of_first_event_after_it_replied_does_nothing(fake, registry, artifacts, calls):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    event = job_event(JOB_B, "prod", artifacts.package(registry.register()))
    assert handler(event, None) == {"status": "replied"}
    before = len(calls.calls)

    assert handler(copy.deepcopy(event), None) == {"status": "duplicate"}

    # One call: the claim that S3 refused. Nothing read, created, updated or answered.
    assert calls.calls[before:] == ["PutObject"]
    assert fake.refused == []
    assert creates_and_updates(calls)["UpdateEndpoint"] == 1


def test_repeat_after_success_does_nothing(fake, registry, artifacts, calls):
    arn = registry.register()
    key = artifacts.package(arn)
    first = job_event(JOB_A, "staging", key)
    handler(first, None)
    poll = job_event(JOB_A, "staging", key, token=fake.last_reply()[1]["continuationToken"])
    handler(poll, None)
    assert fake.last_reply()[0] == "PutJobSuccessResult"
    replies, before = len(fake.replies), len(calls.calls)

    assert handler(copy.deepcopy(first), None) == {"status": "duplicate"}
    assert handler(copy.deepcopy(poll), None) == {"status": "duplicate"}

    assert calls.calls[before:] == ["PutObject", "PutObject"]
    assert len(fake.replies) == replies and fake.refused == []
    assert fake.named("InvokeEndpoint") and len(fake.named("InvokeEndpoint")) == 1


def test_repeat_after_failure_does_not_answer_again(fake, registry, artifacts, calls):
    event = job_event(JOB_A, "prod", artifacts.package(registry.register("Rejected")))
    assert handler(event, None) == {"status": "failed"}
    assert handler(copy.deepcopy(event), None) == {"status": "duplicate"}
    assert [n for n, _ in fake.replies] == ["PutJobFailureResult"] and fake.refused == []
    assert creates_and_updates(calls) == dict.fromkeys(CREATES, 0)


def test_repeat_after_rollback_does_not_redeploy_the_rejected_model(fake, registry, artifacts,
                                                                    calls):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    key = artifacts.package(registry.register())
    first = job_event(JOB_B, "prod", key)
    handler(first, None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.roll_back(f"{PREFIX}-prod")
    poll = job_event(JOB_B, "prod", key, token=token)
    handler(poll, None)
    assert fake.last_reply()[0] == "PutJobFailureResult"

    assert handler(copy.deepcopy(first), None) == {"status": "duplicate"}
    assert handler(copy.deepcopy(poll), None) == {"status": "duplicate"}

    assert creates_and_updates(calls) == {"CreateModel": 2, "CreateEndpointConfig": 2,
                                          "CreateEndpoint": 1, "UpdateEndpoint": 1}
    endpoint = moto_endpoint(f"{PREFIX}-prod")
    assert endpoint.endpoint_config_name == f"{PREFIX}-prod-v1-a1b2c3d4"
    assert endpoint.endpoint_status == "InService" and fake.refused == []


def test_repeat_of_a_poll_that_asked_to_come_back(fake, registry, artifacts, calls):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    key = artifacts.package(registry.register())
    handler(job_event(JOB_B, "prod", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    poll = job_event(JOB_B, "prod", key, token=token)
    handler(poll, None)  # still Updating
    assert fake.last_reply()[1]["continuationToken"] == token

    assert handler(copy.deepcopy(poll), None) == {"status": "duplicate"}

    fake.finish_update(f"{PREFIX}-prod")
    final = job_event(JOB_B, "prod", key, token=token)
    assert handler(final, None) == {"status": "replied"}
    assert fake.results[job_id_of(final)][1]["outputVariables"]["EndpointConfigName"] == \
        f"{PREFIX}-prod-v2-b5e6f7a8"
    assert fake.refused == []


# -- repeats interleaved with the first delivery, at every step ----------------------------------

def _interleave(operation: str, service: str, duplicate_event: dict, seen: list):
    """Deliver `duplicate_event` once, while the first delivery is about to call `operation`."""
    events, prefix = client_events(service)

    delivered = []

    def deliver(model, **_):
        if model.name == operation and not delivered:
            delivered.append(True)
            seen.append(handler(copy.deepcopy(duplicate_event), None))

    events.register_first(prefix, deliver)


# Steps of a first call (update of a live prod endpoint), in the order the step makes them.
FIRST_CALL_STEPS = [
    ("s3", "PutObject"),                    # the claim itself: the repeat gets there first
    ("sagemaker", "DescribeModelPackage"),
    ("sagemaker", "DescribeEndpoint"),
    ("sagemaker", "CreateModel"),
    ("sagemaker", "CreateEndpointConfig"),
    ("sagemaker", "UpdateEndpoint"),
    ("codepipeline", "PutJobSuccessResult"),
]


@pytest.mark.parametrize("service, operation", FIRST_CALL_STEPS,
                         ids=[op for _, op in FIRST_CALL_STEPS])
def test_repeat_interleaved_with_first_call(fake, registry, artifacts, calls, service,
                                            operation):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    event = job_event(JOB_B, "prod", artifacts.package(registry.register()))
    seen: list = []
    _interleave(operation, service, event, seen)

    outer = handler(event, None)

    # Exactly one of the two deliveries did the work and answered; the other ended quietly.
    assert sorted([outer["status"], seen[0]["status"]]) == ["duplicate", "replied"]
    if operation == "PutObject":
        assert seen[0] == {"status": "replied"}
    assert creates_and_updates(calls) == {"CreateModel": 2, "CreateEndpointConfig": 2,
                                          "CreateEndpoint": 1, "UpdateEndpoint": 2 - 1}
    job_replies = [r for r in fake.replies if r[1]["jobId"] == JOB_B]
    assert len(job_replies) == 1 and "continuationToken" in job_replies[0][1]
    assert fake.refused == []


# Steps of the final poll (create finished, autoscaling, smoke test, cleanup, outcome), on prod:
# the stage the environments autoscale (the deploy role may scale only those endpoints).
FINAL_POLL_STEPS = [
    ("s3", "PutObject"),
    ("sagemaker", "DescribeEndpointConfig"),
    ("sagemaker", "DescribeEndpoint"),
    ("application-autoscaling", "RegisterScalableTarget"),
    ("sagemaker-runtime", "InvokeEndpoint"),
    ("sagemaker", "ListEndpointConfigs"),
    ("sagemaker", "AddTags"),
    ("codepipeline", "PutJobSuccessResult"),
]


@pytest.mark.parametrize("service, operation", FINAL_POLL_STEPS,
                         ids=[op for _, op in FINAL_POLL_STEPS])
def test_repeat_interleaved_with_final_poll(fake, registry, artifacts, calls, lambda_env,
                                           service, operation):
    lambda_env(prod={"smoke_test": True, "autoscaling": {
        "min_instances": 2, "max_instances": 3, "target_invocations_per_instance": 100}})
    key = artifacts.package(registry.register())
    handler(job_event(JOB_A, "prod", key), None)
    poll = job_event(JOB_A, "prod", key, token=fake.last_reply()[1]["continuationToken"])
    seen: list = []
    _interleave(operation, service, poll, seen)

    outer = handler(poll, None)

    assert sorted([outer["status"], seen[0]["status"]]) == ["duplicate", "replied"]
    (reply,) = [r for n, r in fake.replies if r["jobId"] == job_id_of(poll)]
    assert reply["outputVariables"]["EndpointConfigName"] == f"{PREFIX}-prod-v1-a1b2c3d4"
    assert calls.count("InvokeEndpoint") == 1 and calls.count("RegisterScalableTarget") == 1
    assert fake.refused == []


def test_repeat_interleaved_with_a_rollback_verdict(fake, registry, artifacts, calls):
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    key = artifacts.package(registry.register())
    handler(job_event(JOB_B, "prod", key), None)
    token = fake.last_reply()[1]["continuationToken"]
    fake.roll_back(f"{PREFIX}-prod")
    poll = job_event(JOB_B, "prod", key, token=token)
    seen: list = []
    _interleave("PutJobFailureResult", "codepipeline", poll, seen)

    assert handler(poll, None) == {"status": "failed"}
    assert seen == [{"status": "duplicate"}]
    assert calls.count("PutJobFailureResult") == 1 and calls.count("UpdateEndpoint") == 1


# -- replies CodePipeline refuses ----------------------------------------------------------------

def test_refused_reply_is_logged_and_the_invocation_ends_cleanly(fake, registry, artifacts,
                                                                 caplog):
    event = job_event(JOB_A, "staging", artifacts.package(registry.register()))
    # CodePipeline already holds a result for this job (e.g. it timed the job out).
    fake.results[JOB_A] = ("PutJobFailureResult", {})

    assert handler(event, None) == {"status": "reply_refused"}

    assert [n for n, _ in fake.refused] == ["PutJobSuccessResult"]
    assert any('"event": "reply_refused"' in r.getMessage() and "InvalidJobStateException"
               in r.getMessage() for r in caplog.records)


def test_refused_failure_reply_does_not_raise(fake, artifacts):
    fake.results[JOB_A] = ("PutJobSuccessResult", {})
    event = job_event(JOB_A, "staging", artifacts.package("arn:aws:sagemaker:eu-west-1:"
                                                          "123456789012:model-package/x/1"))
    assert handler(event, None) == {"status": "reply_refused"}
    assert [n for n, _ in fake.refused] == ["PutJobFailureResult"]


def test_reply_that_cannot_be_sent_is_logged(fake, registry, artifacts, caplog):
    from deploy_helpers import error

    lambda_aws.client("codepipeline").meta.events.register_first(
        "before-call.codepipeline.PutJobSuccessResult",
        lambda **_: error("ValidationException", "summary too long"))
    event = job_event(JOB_A, "staging", artifacts.package(registry.register()))
    assert handler(event, None) == {"status": "reply_unsent"}
    assert any('"event": "reply_failed"' in r.getMessage() for r in caplog.records)


# -- malformed jobs ------------------------------------------------------------------------------

def _broken(mutate) -> dict:
    event = job_event(JOB_A, "staging", "some/key.zip")
    mutate(event["CodePipeline.job"])
    return event


@pytest.mark.parametrize("mutate, expected", [
    (lambda j: j.update(data=[]), "CodePipeline.job.data is list, expected an object"),
    (lambda j: j["data"].update(actionConfiguration="x"),
     "data.actionConfiguration is str, expected an object"),
    (lambda j: j["data"]["actionConfiguration"].update(configuration=None),
     "data.actionConfiguration.configuration is NoneType, expected an object"),
    (lambda j: j["data"].update(inputArtifacts={"name": "x"}),
     "data.inputArtifacts is dict, expected a list"),
    (lambda j: j["data"].update(inputArtifacts=["TestOutput"]),
     "data.inputArtifacts[0] is str, expected an object"),
    (lambda j: j["data"]["inputArtifacts"][0].update(location=[]),
     "data.inputArtifacts[0].location is list, expected an object"),
    (lambda j: j["data"]["inputArtifacts"][0]["location"].update(s3Location="s3://x"),
     "data.inputArtifacts[0].location.s3Location is str, expected an object"),
    (lambda j: j["data"]["inputArtifacts"][0]["location"]["s3Location"].update(objectKey=7),
     "data.inputArtifacts[0].location.s3Location needs bucketName and objectKey strings"),
    (lambda j: j["data"].update(artifactCredentials="secret"),
     "data.artifactCredentials is str, expected an object"),
    (lambda j: j["data"].update(continuationToken={"v": 2}),
     "data.continuationToken is dict, expected a string"),
])
def test_malformed_job_fails_with_the_field_it_lacks(fake, mutate, expected):
    assert handler(_broken(mutate), None) == {"status": "failed"}
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult" and reply["jobId"] == JOB_A
    assert reply["failureDetails"]["message"] == f"malformed CodePipeline job: {expected}"
    assert reply["failureDetails"]["type"] == "JobFailed"


def test_job_id_that_is_not_one_fails_without_a_claim(fake):
    event = job_event(JOB_A, "staging", "k")
    event["CodePipeline.job"]["id"] = "../../etc"
    assert handler(event, None) == {"status": "failed"}
    assert "is not a job id this step accepts" in fake.last_reply()[1]["failureDetails"][
        "message"]


def test_claim_location_missing_is_a_configuration_error(fake, monkeypatch):
    monkeypatch.delenv("JOB_CLAIMS_S3_URI")
    assert handler(job_event(JOB_A, "staging", "k"), None) == {"status": "failed"}
    details = fake.last_reply()[1]["failureDetails"]
    assert details["type"] == "ConfigurationError"
    assert details["message"].startswith("deploy function environment: JOB_CLAIMS_S3_URI")


def test_claim_s3_cannot_answer_leaves_the_job_unanswered(fake, registry, artifacts):
    from deploy_helpers import error

    # Neither "created" nor "already exists": nobody can tell who owns the job.
    lambda_aws.client("s3").meta.events.register_first(
        "before-call.s3.PutObject", lambda **_: error("InvalidRequest", "try later"))
    event = job_event(JOB_A, "staging", artifacts.package(registry.register()))
    assert handler(event, None) == {"status": "unanswered"}
    assert fake.replies == [] and fake.sm.list_models()["Models"] == []
