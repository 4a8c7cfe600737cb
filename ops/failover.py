"""Client-side failover across a stage's regions: call the primary region's endpoint, and when
that region cannot answer, the next region's endpoint of the same name.

    python main.py invoke --env NAME --stage NAME --rows FILE [--region-order R1,R2]

The endpoint has the same name in every region of its stage and serves the same version there
(`python main.py versions` shows it), so a client only changes the region it calls. What moves
a call to the next region: the region cannot be reached or answer (connection errors and
timeouts, botocore's "Retry behavior" in the AWS SDKs and Tools Reference Guide), SageMaker
answers with a server-side error (HTTP 5xx, throttling: InvokeEndpoint "Errors":
InternalFailure, ServiceUnavailable, ThrottlingException, ModelNotReadyException), or the
endpoint does not exist there (being recreated). What does not: a request the model or SageMaker
refuses as bad (HTTP 4xx, e.g. ModelError with the container's 4xx, ValidationError): it is
equally bad in every region. Each client gives up on one region quickly (short timeouts, one
retry) so the next region is tried within seconds.

`invoke` is the function to copy into an application; the command is a way to try it.
Exit status: 0 answered, 1 no region answered, 2 bad input or no credentials.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ops import refused, stage_option
from pipeline_src.cli import Parser, UsageError, option_help, print_error

CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 10
# Per region: the first attempt and one retry, then the next region.
ATTEMPTS_PER_REGION = 2
SERVER_SIDE = {"InternalFailure", "ServiceUnavailable", "ThrottlingException",
               "ModelNotReadyException", "InternalServerError"}


class NoRegionAnswered(Exception):
    """str() names each region and why it did not answer."""


@dataclass(frozen=True)
class Answer:
    region: str
    body: bytes
    content_type: str
    skipped: tuple  # (region, reason) of the regions tried before


def _should_fail_over(exc: Exception) -> str | None:
    """Why the next region should be tried, or None when the error is the request's own."""
    from botocore.exceptions import (ClientError, ConnectionError as BotoConnectionError,
                                     ConnectTimeoutError, ReadTimeoutError)

    if isinstance(exc, (BotoConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return f"unreachable ({type(exc).__name__})"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in SERVER_SIDE or status >= 500:
            return f"{code or status}: {error.get('Message', '')}".strip()
        if code == "ValidationError" and "not found" in error.get("Message", ""):
            return f"no endpoint there ({error.get('Message')})"
    return None


def runtime_client(session, region: str):
    """The region's runtime client from the project's one client factory (aws_clients)."""
    import aws_clients

    limits = aws_clients.Limits(connect_seconds=CONNECT_TIMEOUT_SECONDS,
                                read_seconds=READ_TIMEOUT_SECONDS, attempts=ATTEMPTS_PER_REGION)
    return aws_clients.client("sagemaker-runtime", session, region=region, limits=limits)


def invoke(session, endpoint: str, regions: list[str], body: bytes,
           content_type: str = "text/csv", accept: str = "application/json") -> Answer:
    """The first region (in order) whose endpoint answers; a request error is raised as is."""
    skipped = []
    for region in regions:
        try:
            response = runtime_client(session, region).invoke_endpoint(
                EndpointName=endpoint, ContentType=content_type, Accept=accept, Body=body)
        except Exception as exc:  # noqa: BLE001 - classified below; others are re-raised
            reason = _should_fail_over(exc)
            if reason is None:
                raise
            skipped.append((region, reason))
            continue
        return Answer(region, response["Body"].read(), response.get("ContentType", ""),
                      tuple(skipped))
    raise NoRegionAnswered("; ".join(f"{region}: {reason}" for region, reason in skipped))


def build_parser() -> Parser:
    parser = Parser(prog="python main.py invoke", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, metavar="NAME", help=option_help(
        "environment, config/NAME.json", default="required", example="--env prod"))
    parser.add_argument("--stage", required=True, metavar="NAME", help=option_help(
        "stage whose endpoint is called", default="required", example="--stage prod"))
    parser.add_argument("--rows", required=True, metavar="FILE", help=option_help(
        "CSV rows of the data contract's features, no header", default="required",
        example="--rows rows.csv"))
    parser.add_argument("--region-order", metavar="R1,R2", help=option_help(
        "regions to try, in order", default="the stage's primary, then its secondary regions",
        example="--region-order eu-central-1,eu-west-1"))
    return parser


def main(argv: list[str]) -> int:
    import boto3
    from botocore.exceptions import ClientError, NoCredentialsError

    from infra.config import ConfigError, load_environment
    from infra.naming import Names

    try:
        args = build_parser().parse_args(argv)
        config = load_environment(args.env)
        stage = stage_option(config, args.stage)
        regions = [stage.region or config.region, *stage.secondary_regions]
        if args.region_order:
            order = [r.strip() for r in args.region_order.split(",") if r.strip()]
            unknown = [r for r in order if r not in regions]
            if unknown or not order:
                raise UsageError(f"--region-order {args.region_order!r}: stage {stage.name} "
                                 f"serves from {', '.join(regions)}")
            regions = order
        try:
            body = Path(args.rows).read_bytes()
        except OSError as exc:
            raise UsageError(f"--rows {args.rows}: cannot be read ({exc.strerror})") from None
        answer = invoke(boto3.session.Session(), Names(config).endpoint(stage.name), regions,
                        body)
    except (ConfigError, UsageError, NoCredentialsError) as exc:
        return refused(exc)
    except (NoRegionAnswered, ClientError) as exc:
        print_error(f"no region answered: {exc}")
        return 1
    for region, reason in answer.skipped:
        print(f"skipped {region}: {reason}", file=sys.stderr)
    print(f"answered by {answer.region}", file=sys.stderr)
    print(answer.body.decode("utf-8", "replace"))
    return 0
