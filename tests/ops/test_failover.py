"""Client failover (ops/failover.py): the primary region's endpoint first, the next region's when
the primary cannot answer. moto answers InvokeEndpoint in each region; a regional outage is what
botocore raises when a region's endpoint cannot be reached (EndpointConnectionError, "Retry
behavior", AWS SDKs and Tools Reference Guide), injected before the request is sent; SageMaker's
own errors are its documented InvokeEndpoint errors (API reference, InvokeEndpoint "Errors":
ModelError 424 with the container's status, ServiceUnavailable 503)."""
from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

import main as entry
from ops import failover
from tests.moto_accounts import fake_credentials

PRIMARY, SECONDARY = "eu-west-1", "eu-central-1"
ENDPOINT = "fraud-mlops-prod-prod"


@pytest.fixture
def session(monkeypatch):
    fake_credentials(monkeypatch, PRIMARY)
    with mock_aws():
        yield boto3.session.Session()


def outage(session, region: str, attempts: list):
    """Every request to `region`'s runtime fails to connect, as in a regional outage."""
    def unreachable(request, **_):
        if f".{region}." in request.url:
            attempts.append(region)
            raise EndpointConnectionError(endpoint_url=request.url)

    session.events.register("before-send.sagemaker-runtime.InvokeEndpoint", unreachable)


def answer_with(session, region: str, code: str, status: int):
    def refuse(params, context, **_):
        if context["client_region"] == region:
            return (AWSResponse("https://fake", status, {}, None),
                    {"Error": {"Code": code, "Message": f"{code} in {region}"},
                     "ResponseMetadata": {"HTTPStatusCode": status}})

    session.events.register("before-call.sagemaker-runtime.InvokeEndpoint", refuse)


def test_the_primary_answers_when_it_can(session):
    answer = failover.invoke(session, ENDPOINT, [PRIMARY, SECONDARY], b"1,2,3")
    assert (answer.region, answer.skipped) == (PRIMARY, ())


def test_an_unreachable_primary_is_answered_by_the_secondary(session):
    attempts = []
    outage(session, PRIMARY, attempts)

    answer = failover.invoke(session, ENDPOINT, [PRIMARY, SECONDARY], b"1,2,3")

    assert answer.region == SECONDARY
    assert answer.skipped == ((PRIMARY, "unreachable (EndpointConnectionError)"),)
    # One retry in the failing region, then the next region.
    assert attempts == [PRIMARY] * failover.ATTEMPTS_PER_REGION


def test_a_server_side_error_moves_on_a_request_error_does_not(session):
    answer_with(session, PRIMARY, "ServiceUnavailable", 503)
    answer = failover.invoke(session, ENDPOINT, [PRIMARY, SECONDARY], b"1,2,3")
    assert answer.region == SECONDARY
    assert answer.skipped[0][1].startswith("ServiceUnavailable")

    bad = boto3.session.Session()
    answer_with(bad, PRIMARY, "ModelError", 424)
    with pytest.raises(ClientError) as raised:
        failover.invoke(bad, ENDPOINT, [PRIMARY, SECONDARY], b"not,a,row")
    assert raised.value.response["Error"]["Code"] == "ModelError"


def test_no_region_answering_names_each_region(session, tmp_path, capsys):
    outage(session, PRIMARY, [])
    outage(session, SECONDARY, [])
    with pytest.raises(failover.NoRegionAnswered) as raised:
        failover.invoke(session, ENDPOINT, [PRIMARY, SECONDARY], b"1,2,3")
    assert str(raised.value) == (f"{PRIMARY}: unreachable (EndpointConnectionError); "
                                 f"{SECONDARY}: unreachable (EndpointConnectionError)")


def test_the_command_calls_the_stage_regions_in_order(session, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2,3\n")
    assert entry.main(["invoke", "--env", "prod", "--stage", "prod", "--rows", str(rows),
                       "--region-order", f"{SECONDARY},{PRIMARY}"]) == 0
    assert capsys.readouterr().err == f"answered by {SECONDARY}\n"
    assert entry.main(["invoke", "--env", "prod", "--stage", "staging", "--rows", str(rows),
                       "--region-order", SECONDARY]) == 2
    assert capsys.readouterr().err == (f"error: --region-order '{SECONDARY}': stage staging "
                                       "serves from eu-west-1\n")
