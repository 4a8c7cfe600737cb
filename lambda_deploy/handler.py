"""Lambda entry point: one CodePipeline deploy job, answered with exactly one reply per call.

First call: read the package from the artifact, check it, create Model + EndpointConfig,
create/update the endpoint, reply with a continuation token. Later calls (CodePipeline passes the
token back): poll the endpoint; when it is InService on the new config, smoke-test (staging),
clean up old configs and reply success with output variables. Every failure becomes
put_job_failure_result; nothing but a failed reply is raised, so Lambda never retries a deploy.
"""
from __future__ import annotations

import time

from lambda_deploy import codepipeline, deploy, monitor
from lambda_deploy.artifact import read_model_package_arn
from lambda_deploy.cleanup import clean_up
from lambda_deploy.codepipeline import Job, Progress
from lambda_deploy.errors import DeployFailure, JOB_FAILED
from lambda_deploy.logs import log, warn
from lambda_deploy.package import check_package
from lambda_deploy.settings import Settings, StageSettings, load_settings, parse_user_parameters
from lambda_deploy.smoke_test import run_smoke_test


def handler(event, context):
    try:
        job = codepipeline.parse_job(event)
    except codepipeline.NotAJob:
        warn("ignored_event", reason="not a CodePipeline job")
        return {"status": "ignored"}
    log("job_received", job_id=job.id, resumed=job.continuation_token is not None)
    try:
        reply = run(job, now=int(time.time()))
    except DeployFailure as failure:
        log("job_failed", job_id=job.id, failure_type=failure.failure_type, message=str(failure))
        codepipeline.fail(job.id, failure.failure_type, str(failure))
        return {"status": "failed"}
    except Exception as exc:  # a bug must still answer the job, not make Lambda retry a deploy
        warn("internal_error", job_id=job.id, error_type=type(exc).__name__, error=str(exc))
        codepipeline.fail(job.id, JOB_FAILED,
                          f"internal error in the deploy step: {type(exc).__name__}: {exc}")
        return {"status": "failed"}
    reply()
    return {"status": "replied"}


def run(job: Job, now: int):
    """Do the work of this invocation; returns the reply to send (a zero-argument callable)."""
    settings = load_settings()
    stage = parse_user_parameters(job.user_parameters, settings)
    if job.continuation_token:
        return resume(job, settings, stage, now)
    return start(job, settings, stage, now)


def start(job: Job, settings: Settings, stage: StageSettings, now: int):
    package = check_package(read_model_package_arn(job), settings, stage)
    name = deploy.resource_name(settings, stage.stage, package.version, job.id)
    log("deploy_starting", job_id=job.id, stage=stage.stage, model_package_arn=package.arn,
        approval_status=package.status, name=name)
    deploy.ensure_model(name, package, settings, stage.stage, job.id)
    deploy.ensure_endpoint_config(name, settings, stage, package, job.id)
    action = deploy.start_endpoint(name, settings, stage)
    progress = Progress(stage=stage.stage, endpoint_config=name, package_arn=package.arn,
                        package_version=package.version, started_at=now, action=action)
    summary = (f"{action} of {stage.endpoint_name} to {name} (package version "
               f"{package.version}) started")
    return lambda: codepipeline.continue_later(job.id, progress.to_token(), summary)


def resume(job: Job, settings: Settings, stage: StageSettings, now: int):
    progress = Progress.from_token(job.continuation_token, stage.stage,
                                   deploy.config_prefix(settings, stage.stage))
    status = monitor.check(progress, stage, now)
    log("endpoint_polled", job_id=job.id, done=status.done, detail=status.detail)
    if not status.done:
        return lambda: codepipeline.continue_later(job.id, job.continuation_token, status.detail)
    summary = status.detail
    if stage.smoke_test:
        rows = run_smoke_test(stage.endpoint_name, settings.smoke_test_csv)
        summary += f"; smoke test passed on {rows} rows"
        log("smoke_test_passed", endpoint=stage.endpoint_name, rows=rows)
    cleanup = clean_up(settings, stage, progress.endpoint_config)
    if cleanup.errors:
        summary += f"; cleanup incomplete ({len(cleanup.errors)} errors, see logs)"
    variables = {"EndpointName": stage.endpoint_name,
                 "EndpointConfigName": progress.endpoint_config,
                 "ModelPackageArn": progress.package_arn,
                 "ModelPackageVersion": str(progress.package_version)}
    return lambda: codepipeline.succeed(job.id, summary, variables)
