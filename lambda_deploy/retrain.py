"""Retraining trigger: a drift or quality alarm, or new training data, starts the pipeline,
at most once per cool-down period.

EventBridge invokes this for each trigger event (infra/retraining.py). It starts an execution
only if none started within COOLDOWN_HOURS, and passes a client request token derived from the
cool-down slot, so two triggers racing in the same slot start one execution. Reserved
concurrency 1 keeps the check and the start from interleaving.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from lambda_deploy import aws
from lambda_deploy.logs import log

RECENT_EXECUTIONS = 20


def reason(event: dict) -> str:
    """What fired, for the log: alarm name and state, or the new object's key."""
    detail = event.get("detail") or {}
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        return f"alarm {detail.get('alarmName')} {(detail.get('state') or {}).get('value')}"
    if event.get("detail-type") == "Object Created":
        return f"new object {(detail.get('object') or {}).get('key')}"
    return str(event.get("detail-type") or "unknown event")


def last_start(client, pipeline: str):
    summaries = client.list_pipeline_executions(
        pipelineName=pipeline, maxResults=RECENT_EXECUTIONS)["pipelineExecutionSummaries"]
    starts = [s["startTime"] for s in summaries if s.get("startTime")]
    return max(starts) if starts else None


def handler(event, context, now=None):
    pipeline = os.environ["PIPELINE_NAME"]
    cooldown = timedelta(hours=int(os.environ["COOLDOWN_HOURS"]))
    now = now or datetime.now(timezone.utc)
    why = reason(event)
    client = aws.client("codepipeline")
    started = last_start(client, pipeline)
    if started is not None and now - started < cooldown:
        log("retrain_skipped", pipeline=pipeline, trigger=why, last_start=started.isoformat(),
            cooldown_hours=cooldown.total_seconds() / 3600)
        return {"status": "skipped", "last_start": started.isoformat()}
    slot = int(now.timestamp() // cooldown.total_seconds())
    execution = client.start_pipeline_execution(
        name=pipeline, clientRequestToken=f"retrain-{slot}")["pipelineExecutionId"]
    log("retrain_started", pipeline=pipeline, trigger=why, execution=execution)
    return {"status": "started", "execution": execution}
