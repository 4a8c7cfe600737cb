"""Lambda entry point: one CodePipeline deploy job, answered once however often it is delivered.

Every delivery first claims its job ID (lambda_deploy/claims.py); a delivery that finds the job
claimed ends quietly. First call of a job: read the package from the artifact, check it,
create Model + EndpointConfig (names derived from the job ID), create/update the endpoint,
reply with a continuation token. Later calls (new job IDs carrying the token): check the token
against SageMaker (lambda_deploy/verify.py), poll the endpoint; when it is InService on the new
config, set up autoscaling, smoke-test (staging), clean up old configs, record the outcome on
the config and reply success with output variables read from what serves. Every failure becomes
put_job_failure_result; nothing is raised, so Lambda never retries a deploy.
"""
from __future__ import annotations

import time

import dataclasses

from lambda_deploy import (aws, claims, codepipeline, deploy, experiment, monitor, regions,
                           scaling)
from lambda_deploy.artifact import read_model_package_arn
from lambda_deploy.cleanup import clean_up
from lambda_deploy.codepipeline import Job, Progress
from lambda_deploy.errors import DeployFailure, JOB_FAILED
from lambda_deploy.logs import log, warn
from lambda_deploy.package import check_package
from lambda_deploy.settings import Settings, StageSettings, load_settings, parse_user_parameters
from lambda_deploy.smoke_test import run_smoke_test
from lambda_deploy.verify import Deployment, record_outcome, verify


def handler(event, context):
    if experiment.is_controller_event(event):
        return controller()
    try:
        job_id = codepipeline.job_id(event)
    except codepipeline.NotAJob:
        warn("ignored_event", reason="not a CodePipeline job")
        return {"status": "ignored"}
    try:
        if not claims.claim(job_id):
            # Another delivery of this job owns it and answers it; saying anything here could
            # contradict that answer.
            warn("duplicate_delivery", job_id=job_id)
            return {"status": "duplicate"}
        job = codepipeline.parse_job(event)
        log("job_received", job_id=job.id, resumed=job.continuation_token is not None)
        reply = run(job, now=int(time.time()))
        return _status("replied", reply())
    except claims.ClaimUnknown as exc:
        # Nobody can tell whether another delivery owns the job: answering could contradict
        # it. Unanswered, the job fails when CodePipeline's timeout for it ends.
        warn("claim_unknown", job_id=job_id, error=str(exc))
        return {"status": "unanswered"}
    except DeployFailure as failure:
        log("job_failed", job_id=job_id, failure_type=failure.failure_type, message=str(failure))
        return _status("failed", codepipeline.fail(job_id, failure.failure_type, str(failure)))
    except Exception as exc:  # a bug must still answer the job, not make Lambda retry a deploy
        warn("internal_error", job_id=job_id, error_type=type(exc).__name__, error=str(exc))
        return _status("failed", codepipeline.fail(
            job_id, JOB_FAILED, f"internal error in the deploy step: {type(exc).__name__}: {exc}"))


def controller(now=None) -> dict:
    """A scheduled run of the experiment controller (EventBridge): never raises, so Lambda never
    retries it; the next scheduled run carries on from the state in S3."""
    from datetime import datetime, timezone

    try:
        results = experiment.control_all(load_settings(), now or datetime.now(timezone.utc))
    except DeployFailure as failure:
        warn("experiment_controller_failed", error=str(failure))
        return {"status": "failed", "error": str(failure)}
    log("experiment_controller_done", results=results)
    return {"status": "controlled", "stages": results}


def _status(sent: str, reply: str) -> dict:
    """What the invocation did: the reply it sent, or why CodePipeline did not take it."""
    return {"status": sent if reply == "replied" else f"reply_{reply}"}


def run(job: Job, now: int):
    """Do the work of this invocation; returns the reply to send (a zero-argument callable)."""
    settings = load_settings()
    stage = parse_user_parameters(job.user_parameters, settings)
    # Every call about the stage's endpoint from here on acts in the stage's account.
    aws.enter_stage(stage, job.id)
    if job.continuation_token:
        return resume(job, settings, stage, now)
    return start(job, settings, stage, now)


def start(job: Job, settings: Settings, stage: StageSettings, now: int):
    package = check_package(read_model_package_arn(job), settings, stage)
    name = deploy.resource_name(settings, stage.stage, package.version, job.id)
    log("deploy_starting", job_id=job.id, stage=stage.stage, model_package_arn=package.arn,
        approval_status=package.status, name=name)
    endpoint = deploy.read_endpoint(stage)
    counts = scaling.carried_instance_counts(stage, endpoint)
    # With an experiment configured and a champion serving, the new model joins as the shadow
    # variant instead of replacing it; the scheduled controller ends the experiment.
    shadow = stage.experiment is not None and endpoint is not None
    if shadow:
        experiment.refuse_if_running(stage)
    deploy.create_model(name, package, settings, stage, job.id)
    if shadow:
        experiment.start(name, settings, stage, package, job.id, endpoint, counts)
    else:
        deploy.create_endpoint_config(name, settings, stage, package, job.id, counts)
    action = deploy.start_endpoint(name, endpoint, settings, stage)
    # A stage serving from several regions deploys its primary first (lambda_deploy/regions.py).
    several = {"region": stage.region,
               "previous": (endpoint or {}).get("EndpointConfigName")} \
        if stage.secondary_regions else {}
    progress = Progress(stage=stage.stage, endpoint_config=name, package_arn=package.arn,
                        package_version=package.version, started_at=now, action=action,
                        job=job.id, **several)
    summary = (f"{action} of {stage.endpoint_name} to {name} (package version "
               f"{package.version}, {sum(counts.values())} instances) started"
               + (f" in {stage.region}, then {', '.join(stage.regions[1:])}" if several else ""))
    return lambda: codepipeline.continue_later(job.id, progress.to_token(), summary)


def resume(job: Job, settings: Settings, stage: StageSettings, now: int):
    progress = Progress.from_token(job.continuation_token, stage.stage,
                                   deploy.config_prefix(settings, stage.stage))
    if progress.region is not None or stage.secondary_regions:
        return resume_regions(job, settings, stage, progress, now)
    deployment = verify(progress, read_model_package_arn(job), settings, stage)
    try:
        status = monitor.check(progress, stage, now)
        log("endpoint_polled", job_id=job.id, done=status.done, detail=status.detail)
        if not status.done:
            return lambda: codepipeline.continue_later(job.id, job.continuation_token,
                                                       status.detail)
        summary = f"{status.detail}; {scaling.apply(stage)}"
        if stage.smoke_test:
            rows = run_smoke_test(stage.endpoint_name, settings.smoke_test_csv)
            summary += f"; smoke test passed on {rows} rows"
            log("smoke_test_passed", endpoint=stage.endpoint_name, rows=rows)
    except DeployFailure as failure:
        raise _ended(failure, deployment, stage, job) from None
    cleanup = clean_up(settings, stage, deployment.config_name)
    if cleanup.errors:
        summary += f"; cleanup incomplete ({len(cleanup.errors)} errors, see logs)"
    problem = record_outcome(deployment, "succeeded", job.id)
    if problem:
        warn("outcome_not_recorded", job_id=job.id, error=problem)
    # What serves, as SageMaker reports it (verify() matched the token against it).
    variables = {"EndpointName": stage.endpoint_name,
                 "EndpointConfigName": deployment.config_name,
                 "ModelPackageArn": deployment.package_arn,
                 "ModelPackageVersion": str(deployment.package_version)}
    return lambda: codepipeline.succeed(job.id, summary, variables)


def _ended(failure: DeployFailure, deployment: Deployment, stage: StageSettings,
           job: Job) -> DeployFailure:
    """A deployment that failed for good: record it, restore scaling after a rollback."""
    message = str(failure)
    if isinstance(failure, monitor.RolledBack):
        try:
            scaling.apply(stage)
        except DeployFailure as exc:
            message += f" Autoscaling of the previous config could not be restored: {exc}"
    problem = record_outcome(deployment, "failed", job.id)
    if problem:
        warn("outcome_not_recorded", job_id=job.id, error=problem)
    return DeployFailure(message, failure.failure_type)


def resume_regions(job: Job, settings: Settings, stage: StageSettings, progress: Progress,
                   now: int):
    """resume() for a stage serving from several regions: poll the region in progress; when it
    serves the new version, start the next one, and after the last clean up everywhere and
    succeed. A failure sends the regions already updated back (lambda_deploy/regions.py)."""
    region = progress.region
    unknown = [r for r in (region, *(r for r, _ in progress.back)) if r not in stage.regions]
    if unknown:
        raise DeployFailure(f"continuation token names region {unknown[0]!r}, which stage "
                            f"{stage.stage} does not serve from ({', '.join(stage.regions)}); "
                            "retry the stage")
    if progress.back:
        return await_going_back(job, settings, stage, progress, now)
    if progress.copy is not None:
        return continue_copy(job, settings, stage, progress, now)
    regional = regions.enter(stage, region, job.id) if region != stage.region else stage
    placement = stage.placement(region)
    deployment = verify(progress, read_model_package_arn(job), settings, regional,
                        model_data_url=None if placement is None else regions.copy_uri(
                            placement, settings, progress.package_version))
    updated = list(progress.done)
    failing = region
    try:
        status = monitor.check(progress, regional, now)
        log("endpoint_polled", job_id=job.id, region=region, done=status.done,
            detail=status.detail)
        if not status.done:
            return lambda: codepipeline.continue_later(job.id, job.continuation_token,
                                                       f"{region}: {status.detail}")
        updated.append((region, progress.previous))
        summary = f"{region}: {status.detail}; {scaling.apply(regional)}"
        if regional.smoke_test:
            rows = run_smoke_test(regional.endpoint_name, settings.smoke_test_csv)
            summary += f"; smoke test passed on {rows} rows"
            log("smoke_test_passed", endpoint=regional.endpoint_name, region=region, rows=rows)
        following = regions.next_region(stage, region)
        if following is not None:
            package = check_package(progress.package_arn, settings, stage)
            failing = following
            started = regions.start_region(
                progress.endpoint_config, package, settings, stage, following, job.id,
                started_by=progress.job)
            later = _started_in(progress, following, started, tuple(updated), now)
            summary += f"; {_what_started(following, started)}"
            return lambda: codepipeline.continue_later(job.id, later.to_token(), summary)
    except DeployFailure as failure:
        return _ended_regions(failure, deployment, stage, regional, failing, updated, job,
                              progress, now)
    # Every region serves the new version: only now may old configs go (a rollback needs them).
    cleanup_errors = 0
    for each in [regional.region] + [r for r in stage.regions if r != regional.region]:
        # The polled region first, in the clients already entered; then each of the others.
        here = regional if each == regional.region else regions.enter(stage, each, job.id)
        cleanup_errors += len(clean_up(settings, here, deployment.config_name).errors)
        problem = record_outcome(deployment if each == regional.region else
                                 dataclasses.replace(deployment, config_arn=regions.config_arn(
                                     deployment.config_name)), "succeeded", job.id)
        if problem:
            warn("outcome_not_recorded", job_id=job.id, region=each, error=problem)
    if cleanup_errors:
        summary += f"; cleanup incomplete ({cleanup_errors} errors, see logs)"
    variables = {"EndpointName": stage.endpoint_name,
                 "EndpointConfigName": deployment.config_name,
                 "ModelPackageArn": deployment.package_arn,
                 "ModelPackageVersion": str(deployment.package_version),
                 "Regions": ",".join(stage.regions)}
    summary = f"{deployment.config_name} serves in {', '.join(stage.regions)}; {summary}"
    return lambda: codepipeline.succeed(job.id, summary, variables)


def _started_in(progress: Progress, region: str, started, done: tuple, now: int) -> Progress:
    """The token after start_region in `region`: polling its endpoint, or resuming its copy."""
    if isinstance(started, regions.Copying):
        return dataclasses.replace(progress, region=region, previous=None, done=done,
                                   started_at=now, action="copy",
                                   copy=(started.upload_id, started.next_part, started.size))
    action, previous = started
    return dataclasses.replace(progress, region=region, previous=previous, done=done,
                               started_at=now, action=action, copy=None)


def _what_started(region: str, started) -> str:
    if isinstance(started, regions.Copying):
        return (f"copying the model artifact to {region} (part {started.next_part} of "
                f"{-(-started.size // regions.PART_BYTES)} next)")
    return f"{started[0]} in {region} started"


def continue_copy(job: Job, settings: Settings, stage: StageSettings, progress: Progress,
                  now: int):
    """The artifact's copy to progress.region goes on from the token's part; once done, the
    region's endpoint is started as start_region does. The token is a claim: its package must
    be this job's, and the upload ID is S3's for this version's copy (an ID of another upload
    is refused by S3 as NoSuchUpload)."""
    region = progress.region
    if progress.package_arn != read_model_package_arn(job):
        raise DeployFailure("continuation token rejected: it names model package "
                            f"{progress.package_arn}, not this job's input; retry the stage")
    upload_id, next_part, size = progress.copy
    try:
        package = check_package(progress.package_arn, settings, stage)
        started = regions.start_region(progress.endpoint_config, package, settings, stage,
                                       region, job.id, started_by=progress.job,
                                       copying=regions.Copying(upload_id, next_part, size))
    except DeployFailure as failure:
        # Nothing of the new version serves in this region; the regions before it go back.
        deployment = Deployment(progress.endpoint_config, "", progress.package_arn,
                                progress.package_version)
        return _ended_regions(failure, deployment, stage, stage, region, list(progress.done),
                              job, progress, now)
    later = _started_in(progress, region, started, progress.done, now)
    return lambda: codepipeline.continue_later(job.id, later.to_token(),
                                               _what_started(region, started))


def _ended_regions(failure: DeployFailure, deployment: Deployment, stage: StageSettings,
                   regional: StageSettings, failing: str, updated: list, job: Job,
                   progress: Progress, now: int):
    """A region failed or was rolled back (the one polled, or the next one as it started):
    record it, restore its scaling after a rollback, and send every region already serving
    the new version back; the reply waits for those updates back (await_going_back), or, with
    none to wait for, the failure is raised."""
    message = f"{failing}: {failure}"
    message += "" if message.endswith(".") else "."
    if isinstance(failure, monitor.RolledBack):
        try:
            scaling.apply(regional)
        except DeployFailure as exc:
            message += f" Autoscaling of the previous config could not be restored: {exc}"
    if failing == regional.region and all(r != failing for r, _ in updated):
        # The polled region never served the new config; go_back records the others.
        problem = record_outcome(deployment, "failed", job.id)
        if problem:
            warn("outcome_not_recorded", job_id=job.id, error=problem)
    if not updated:
        raise DeployFailure(message, failure.failure_type)
    outcomes, started = regions.go_back(stage, updated, deployment.config_name, job.id)
    message += " Regions already serving the new version: "
    if not started:
        raise DeployFailure(message + "; ".join(outcomes) + ".", failure.failure_type)
    # Wait for the updates back before failing the stage: CodePipeline invokes the step again
    # with this token, and each invocation only reads the endpoints. The settled regions' (a
    # region this deployment created, one that could not be sent back) sentences are final.
    message += "".join(f"{outcome}; " for outcome in outcomes)
    waiting = dataclasses.replace(progress, back=tuple(started), started_at=now,
                                  failure=message, failure_type=failure.failure_type)
    summary = message + "waiting for " + ", ".join(f"{r} to go back to {p} (blue/green update "
                                                   "started)" for r, p in started)
    log("waiting_for_regions_going_back", job_id=job.id,
        regions=[r for r, _ in started])
    return lambda: codepipeline.continue_later(job.id, waiting.to_token(), summary)


def await_going_back(job: Job, settings: Settings, stage: StageSettings, progress: Progress,
                     now: int):
    """The stage failed and regions were sent back to their previous config: poll each update
    back; once every one has finished (or ran out of time), fail the job saying what each
    region serves. The token is checked first in each region (verify_failed): its package is
    this job's, and its config there is this job's deployment, not recorded as succeeded."""
    from lambda_deploy.verify import verify_failed

    artifact_package_arn = read_model_package_arn(job)
    settled, waiting = [], []
    for region, previous in progress.back:
        # In deploy order: the primary (which run() entered) first, if it is one of them.
        regional = stage if region == stage.region else regions.enter(stage, region, job.id)
        verify_failed(progress, artifact_package_arn, settings, regional)
        outcome = regions.went_back(regional, previous, progress.started_at, now)
        (waiting if outcome is None else settled).append(outcome or region)
    log("regions_going_back_polled", job_id=job.id, waiting=waiting, settled=settled)
    if waiting:
        return lambda: codepipeline.continue_later(
            job.id, job.continuation_token, f"{progress.failure}waiting for "
            f"{', '.join(waiting)} to go back to the previous version")
    raise DeployFailure(progress.failure + "; ".join(settled) + ".", progress.failure_type)
