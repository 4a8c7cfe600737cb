"""Call the new staging endpoint with contract rows; check the answer obeys the contract."""
from __future__ import annotations

import json
import math

from botocore.exceptions import BotoCoreError, ClientError

from lambda_deploy import aws
from lambda_deploy.errors import DeployFailure


def run_smoke_test(endpoint_name: str, csv_rows: str) -> int:
    """Returns the number of rows checked; raises DeployFailure naming the first problem."""
    rows = [line for line in csv_rows.splitlines() if line.strip()]
    try:
        response = aws.target("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint_name, ContentType="text/csv", Accept="application/json",
            Body="\n".join(rows).encode("utf-8"))
        body = response["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise DeployFailure(f"smoke test failed: invoking {endpoint_name} failed: {exc}") from None
    problem = contract_violation(body, len(rows))
    if problem:
        raise DeployFailure(f"smoke test failed on {endpoint_name}: {problem}")
    return len(rows)


def contract_violation(body: bytes, expected_rows: int) -> str | None:
    """The inference contract of docs/interfaces.md, as one sentence per violation."""
    try:
        answer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"response is not JSON: {body[:200]!r}"
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        return 'response has no "predictions" list'
    if len(predictions) != expected_rows:
        return f"{len(predictions)} predictions for {expected_rows} rows"
    for index, item in enumerate(predictions):
        if not isinstance(item, dict):
            return f"prediction {index} is not an object"
        probability, label = item.get("probability"), item.get("label")
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) \
                or not math.isfinite(probability) or not 0.0 <= probability <= 1.0:
            return f"prediction {index} probability {probability!r} is not a number in [0, 1]"
        if isinstance(label, bool) or label not in (0, 1):
            return f"prediction {index} label {label!r} is not 0 or 1"
    return None
