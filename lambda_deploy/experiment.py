"""Champion vs challenger in production: the shadow phase, and the controller that ends it.

Shadow, not an inference experiment. AWS offers two ways to run a model beside the one that
answers ("Testing models with shadow variants",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html; "Create a shadow
test", https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html): an endpoint
config with ShadowProductionVariants, or CreateInferenceExperiment (Type ShadowMode). Both allow
one production and one shadow variant per endpoint and can capture both variants' requests and
responses. The inference experiment runs at most 30 days (default 7), needs a role SageMaker
acts as, and its StopInferenceExperiment Promote/Remove/Retain rewrite the endpoint on
SageMaker's side (Promote: the shadow variant becomes the production variant; Remove: the
variant is deleted; Retain: kept as it is; API_StopInferenceExperiment), outside this step's
tagged configs, cleanup and outcome records. Fraud labels take weeks and an experiment here may
run longer than 30 days, so the challenger is a ShadowProductionVariants entry of an endpoint
config this step creates, and promotion is an ordinary new config with the winner as the only
production variant, deployed like any release. (moto implements neither: it accepts and drops
ShadowProductionVariants and has no CreateInferenceExperiment; the tests check the request
against botocore's service model and record it.)

State: `<EXPERIMENTS_S3_URI>/<endpoint>/<experiment id>/` holds one object per step, each created
with If-None-Match: * (S3 conditional writes, as lambda_deploy/claims.py): 1-started (by the
deploy job that set the shadow up), 2-decided (the first final verdict, or inconclusive at the
maximum duration), 3-switching (the claim to make the one UpdateEndpoint to the winner's config),
3-updated (that UpdateEndpoint was accepted, or the endpoint was seen updating after the claim),
3-resumed (the claim to make it once more, after a run stopped between its claim and its call),
4-ended. A step
exists at most once, so a repeated or late controller run changes nothing; every run reads the
state from S3, never from its event, so runs may arrive in any order. The verdict is
`verdict.json` beside them (pipeline_src/verdict.py's output for that experiment).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError, ClientError

import aws_clients

from lambda_deploy import aws, claims, deploy, scaling
from lambda_deploy.cleanup import clean_up
from lambda_deploy.errors import DeployFailure, aws_failure, error_code
from lambda_deploy.logs import log, warn
from lambda_deploy.settings import Settings, StageSettings

ENV_VAR = "EXPERIMENTS_S3_URI"
CONTROLLER_EVENT = "experiment-controller"
STARTED, DECIDED, SWITCHING, ENDED = "1-started", "2-decided", "3-switching", "4-ended"
UPDATED, RESUMED = "3-updated", "3-resumed"
VERDICT = "verdict.json"
FINAL = ("promote", "reject", "inconclusive")
_IN_FLIGHT = ("ConditionalRequestConflict",)
VERSION_RE = re.compile(r".*-v(\d+)-[a-z0-9]+")


@dataclass(frozen=True)
class Experiment:
    id: str
    stage: str
    endpoint: str
    champion_variant: str
    champion_model: str
    champion_config: str
    champion_package_arn: str
    challenger_variant: str
    challenger_model: str
    challenger_package_arn: str
    challenger_package_version: int
    config: str
    started_at: str

    def key(self, prefix: str, step: str) -> str:
        return f"{prefix}/{self.endpoint}/{self.id}/{step}.json"


def location(environ=None) -> tuple[str, str]:
    """(bucket, key prefix) from EXPERIMENTS_S3_URI."""
    return claims.location(environ, ENV_VAR)


# --- S3 state -----------------------------------------------------------------------------------

def put_once(bucket: str, key: str, document: dict) -> bool:
    """Create `key` unless it exists: True when this call created it (S3 conditional write)."""
    body = json.dumps(document, sort_keys=True).encode()
    for _ in range(3):
        try:
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*",
                                        ContentType="application/json")
            return True
        except ClientError as exc:
            code = error_code(exc)
            if code == "PreconditionFailed":
                return False
            if code not in _IN_FLIGHT:
                raise aws_failure(f"s3:PutObject s3://{bucket}/{key}", exc) from None
        except BotoCoreError as exc:
            raise aws_failure(f"s3:PutObject s3://{bucket}/{key}", exc) from None
    raise DeployFailure(f"s3:PutObject s3://{bucket}/{key}: conflicting writes")


def read(bucket: str, key: str) -> dict | None:
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise aws_failure(f"s3:GetObject s3://{bucket}/{key}", exc) from None
    try:
        document = json.loads(body)
    except ValueError:
        raise DeployFailure(f"s3://{bucket}/{key} is not JSON") from None
    if not isinstance(document, dict):
        raise DeployFailure(f"s3://{bucket}/{key} is not a JSON object")
    return document


def steps(bucket: str, prefix: str, endpoint: str) -> dict[str, set[str]]:
    """{experiment id: the state steps it has} of one endpoint."""
    found: dict[str, set[str]] = {}
    try:
        for item in aws_clients.paginate(aws.client("s3"), "list_objects_v2", "Contents",
                                         Bucket=bucket, Prefix=f"{prefix}/{endpoint}/"):
            parts = item["Key"][len(prefix) + 1:].split("/")
            if len(parts) == 3 and parts[2].endswith(".json"):
                found.setdefault(parts[1], set()).add(parts[2][:-len(".json")])
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"s3:ListObjectsV2 s3://{bucket}/{prefix}/{endpoint}/", exc) from None
    return found


def active(bucket: str, prefix: str, endpoint: str) -> Experiment | None:
    """The endpoint's running experiment (started, not ended), if any."""
    running = [i for i, s in steps(bucket, prefix, endpoint).items()
               if STARTED in s and ENDED not in s]
    if not running:
        return None
    if len(running) > 1:
        raise DeployFailure(f"endpoint {endpoint} has {len(running)} running experiments "
                            f"({', '.join(sorted(running))}) in s3://{bucket}/{prefix}; end all "
                            "but one")
    record = read(bucket, f"{prefix}/{endpoint}/{running[0]}/{STARTED}.json")
    return Experiment(**record["experiment"])


# --- the shadow phase, started by a deploy job ----------------------------------------------------

def serving_model(endpoint: dict) -> tuple[str, str, str]:
    """(config name, model of its first production variant, that model's package ARN from the
    config's tags) of what serves now."""
    name = endpoint["EndpointConfigName"]
    sagemaker = aws.target("sagemaker")
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
        tags = sagemaker.list_tags(ResourceArn=config["EndpointConfigArn"]).get("Tags", [])
    except ClientError as exc:
        raise aws_failure("sagemaker:DescribeEndpointConfig/ListTags", exc) from None
    package = next((t["Value"] for t in tags if t["Key"] == deploy.TAG_PACKAGE_ARN), "unknown")
    return name, config["ProductionVariants"][0]["ModelName"], package


def shadow_config_request(name: str, settings: Settings, stage: StageSettings, package,
                          job_id: str, counts: dict, champion_model: str) -> dict:
    """The champion keeps the production variant (its model, name and weight); the challenger
    (the new package) is the one shadow variant, with the same instance type and count."""
    request = deploy.endpoint_config_request(name, settings, stage, package, job_id, counts)
    champion = stage.variants[0]
    request["ProductionVariants"][0]["ModelName"] = champion_model
    request["ShadowProductionVariants"] = [{
        "VariantName": stage.experiment.challenger_variant, "ModelName": name,
        "InstanceType": stage.instance_type,
        "InitialInstanceCount": counts[champion.name],
        # The shadow test page: the shadow variant gets a copy of the production variant's
        # requests; equal weights mirror all of them, which the pairing needs.
        "InitialVariantWeight": champion.weight,
    }]
    return request


def refuse_if_running(stage: StageSettings) -> None:
    """One experiment per endpoint: a new challenger waits (before anything is created)."""
    bucket, prefix = location()
    running = active(bucket, prefix, stage.endpoint_name)
    if running is not None:
        raise DeployFailure(f"endpoint {stage.endpoint_name} already runs experiment "
                            f"{running.id} (challenger package version "
                            f"{running.challenger_package_version}); a new challenger waits "
                            "until the controller ends it")


def start(name: str, settings: Settings, stage: StageSettings, package, job_id: str,
          endpoint: dict, counts: dict) -> Experiment:
    """Create the shadow endpoint config and record the experiment (the job then updates the
    endpoint to it as any deploy does)."""
    bucket, prefix = location()
    champion_config, champion_model, champion_package = serving_model(endpoint)
    request = shadow_config_request(name, settings, stage, package, job_id, counts,
                                    champion_model)
    try:
        aws.target("sagemaker").create_endpoint_config(**request)
    except ClientError as exc:
        raise aws_failure("sagemaker:CreateEndpointConfig", exc) from None
    experiment = Experiment(
        id=job_id, stage=stage.stage, endpoint=stage.endpoint_name,
        champion_variant=stage.variants[0].name, champion_model=champion_model,
        champion_config=champion_config, champion_package_arn=champion_package,
        challenger_variant=stage.experiment.challenger_variant,
        challenger_model=name, challenger_package_arn=package.arn,
        challenger_package_version=package.version, config=name,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not put_once(bucket, experiment.key(prefix, STARTED),
                    {"experiment": asdict(experiment)}):
        raise DeployFailure(f"experiment {job_id} was already started by an earlier delivery")
    log("experiment_started", **asdict(experiment))
    return experiment


# --- the controller -----------------------------------------------------------------------------

def is_controller_event(event) -> bool:
    return isinstance(event, dict) and event.get(CONTROLLER_EVENT) is not None


def control_all(settings: Settings, now: datetime) -> dict:
    """One controller run: move every stage's running experiment on by at most one step."""
    results = {}
    for name, stage in sorted(settings.stages.items()):
        if stage.experiment is None:
            continue
        aws.enter_stage(stage, f"experiments-{now:%Y%m%dT%H%M%S}")
        try:
            results[name] = control(settings, stage, now)
        except DeployFailure as failure:
            warn("experiment_step_failed", stage=name, error=str(failure))
            results[name] = f"failed: {failure}"
    return results


def control(settings: Settings, stage: StageSettings, now: datetime) -> str:
    bucket, prefix = location()
    experiment = active(bucket, prefix, stage.endpoint_name)
    if experiment is None:
        return "no experiment"
    done = steps(bucket, prefix, stage.endpoint_name)[experiment.id]
    decision = read(bucket, experiment.key(prefix, DECIDED)) if DECIDED in done else None
    if decision is None:
        decision = decide(bucket, prefix, experiment, stage, now)
        if decision is None:
            return "running"
    outcome = decision["outcome"]
    target = target_config(settings, stage, experiment, outcome)
    return switch(bucket, prefix, settings, stage, experiment, outcome, target, done)


def decide(bucket: str, prefix: str, experiment: Experiment, stage: StageSettings,
           now: datetime) -> dict | None:
    """Record the first final verdict (or inconclusive after the maximum duration)."""
    verdict = read(bucket, f"{prefix}/{experiment.endpoint}/{experiment.id}/{VERDICT}") or {}
    started = datetime.fromisoformat(experiment.started_at)
    outcome = verdict.get("outcome")
    if outcome not in FINAL:
        if now < started + timedelta(days=stage.experiment.max_days):
            log("experiment_running", experiment=experiment.id, verdict=outcome or "none yet",
                labelled_pairs=verdict.get("labelled_pairs"), interval=verdict.get("interval"))
            return None
        # No final verdict by the maximum duration: the champion stays (never promote by default).
        outcome = "inconclusive"
    decision = {"outcome": outcome, "decided_at": now.isoformat(timespec="seconds"),
                "verdict": verdict}
    if not put_once(bucket, experiment.key(prefix, DECIDED), decision):
        # Another run decided first: its decision stands.
        decision = read(bucket, experiment.key(prefix, DECIDED))
    log("experiment_decided", experiment=experiment.id, outcome=decision["outcome"],
        interval=decision["verdict"].get("interval"),
        labelled_pairs=decision["verdict"].get("labelled_pairs"))
    return decision


def target_config(settings: Settings, stage: StageSettings, experiment: Experiment,
                  outcome: str) -> tuple[str, str, int]:
    """(config name, model, package version) the endpoint ends on: the challenger's model when
    promoted, the champion's otherwise, as the stage's one production variant."""
    if outcome == "promote":
        model, version, mark = (experiment.challenger_model,
                                experiment.challenger_package_version, "p")
    else:
        found = VERSION_RE.fullmatch(experiment.champion_model)
        model, version, mark = (experiment.champion_model, int(found.group(1)) if found else 0,
                                "k")
    name = deploy.resource_name(settings, stage.stage, version, mark + experiment.id)
    return name, model, version


def switch(bucket: str, prefix: str, settings: Settings, stage: StageSettings,
           experiment: Experiment, outcome: str, target: tuple, done: set) -> str:
    name, model, _ = target
    endpoint = deploy.describe_endpoint(stage.endpoint_name)
    if endpoint is None:
        raise DeployFailure(f"endpoint {stage.endpoint_name} no longer exists")
    status, serving = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
    if status in deploy.BUSY_STATUSES:
        if SWITCHING in done and UPDATED not in done and status == "Updating":
            # The claimed update is under way: the run that made it stopped before recording
            # it. Recorded now, so a rollback is later read as one, not as a missing update.
            put_once(bucket, experiment.key(prefix, UPDATED), {"config": name, "seen": status})
        log("experiment_waiting", experiment=experiment.id, endpoint=stage.endpoint_name,
            status=status)
        return f"{outcome}: endpoint {status}, will retry"
    if status != "InService":
        raise DeployFailure(f"endpoint {stage.endpoint_name} is {status}; the experiment "
                            f"{experiment.id} cannot end ({outcome}) until it is InService")
    if serving == name:
        return finish(bucket, prefix, settings, stage, experiment, outcome, name)
    if SWITCHING in done:
        if UPDATED not in done and RESUMED not in done and serving == experiment.config:
            # Claimed, never recorded as made, and the shadow config still serves: the run that
            # claimed the switch stopped before (or while) calling UpdateEndpoint. Resume it,
            # once (its own conditional claim), instead of reading it as a rollback.
            if not put_once(bucket, experiment.key(prefix, RESUMED), {"config": name}):
                return f"{outcome}: another run resumes the switch"
            warn("experiment_switch_resumed", experiment=experiment.id, target=name)
            return update_to(bucket, prefix, stage, experiment, outcome, name)
        # The update to the winner's config was made (or resumed once) and the endpoint is not
        # on it: SageMaker rolled it back (an alarm fired), or it was never accepted. The
        # experiment ends with the shadow config still serving; a person looks at why.
        put_once(bucket, experiment.key(prefix, ENDED), {
            "outcome": f"{outcome} rolled back", "serving": serving})
        warn("experiment_switch_rolled_back", experiment=experiment.id, serving=serving,
             target=name)
        return f"{outcome}: the switch to {name} was rolled back; {serving} serves"
    create_final_config(name, model, settings, stage, experiment, outcome, endpoint)
    if not put_once(bucket, experiment.key(prefix, SWITCHING), {"config": name}):
        return f"{outcome}: another run switches the endpoint"
    return update_to(bucket, prefix, stage, experiment, outcome, name)


def update_to(bucket: str, prefix: str, stage: StageSettings, experiment: Experiment,
              outcome: str, name: str) -> str:
    """The one UpdateEndpoint to the winner's config (its claim already recorded), then the
    record that it was accepted."""
    sagemaker = aws.target("sagemaker")
    try:
        sagemaker.update_endpoint(EndpointName=stage.endpoint_name, EndpointConfigName=name,
                                  RetainAllVariantProperties=False,
                                  DeploymentConfig=deploy.deployment_config(stage))
    except ClientError as exc:
        raise aws_failure("sagemaker:UpdateEndpoint", exc) from None
    put_once(bucket, experiment.key(prefix, UPDATED), {"config": name})
    log("experiment_switching", experiment=experiment.id, outcome=outcome, endpoint_config=name)
    return f"{outcome}: switching {stage.endpoint_name} to {name}"


def create_final_config(name: str, model: str, settings: Settings, stage: StageSettings,
                        experiment: Experiment, outcome: str, endpoint: dict) -> None:
    """The winner as the stage's only production variant (its stable name), data capture and
    tags as any deploy's config; creating it again finds it there."""
    counts = scaling.carried_instance_counts(stage, endpoint)
    package = _Package(arn=experiment.challenger_package_arn if outcome == "promote"
                       else experiment.champion_package_arn, commit=None)
    request = deploy.endpoint_config_request(name, settings, stage, package, experiment.id,
                                             counts)
    request["ProductionVariants"][0]["ModelName"] = model
    request["Tags"].append({"Key": "mlops:experiment", "Value": f"{experiment.id} {outcome}"})
    try:
        aws.target("sagemaker").describe_endpoint_config(EndpointConfigName=name)
        return
    except ClientError as exc:
        if "not find" not in str(exc.response.get("Error", {}).get("Message", "")):
            raise aws_failure("sagemaker:DescribeEndpointConfig", exc) from None
    try:
        aws.target("sagemaker").create_endpoint_config(**request)
    except ClientError as exc:
        raise aws_failure("sagemaker:CreateEndpointConfig", exc) from None
    log("experiment_config_created", endpoint_config=name, model=model, outcome=outcome)


@dataclass(frozen=True)
class _Package:
    arn: str
    commit: str | None


def finish(bucket: str, prefix: str, settings: Settings, stage: StageSettings,
           experiment: Experiment, outcome: str, name: str) -> str:
    """The endpoint serves the winner alone: scaling, cleanup, outcome, then the end record."""
    summary = scaling.apply(stage)
    cleanup = clean_up(settings, stage, name)
    try:
        arn = aws.target("sagemaker").describe_endpoint_config(
            EndpointConfigName=name)["EndpointConfigArn"]
        aws.target("sagemaker").add_tags(ResourceArn=arn, Tags=[
            {"Key": deploy.TAG_OUTCOME, "Value": f"succeeded (experiment {experiment.id})"}])
    except ClientError as exc:
        warn("outcome_not_recorded", experiment=experiment.id, error=str(exc))
    put_once(bucket, experiment.key(prefix, ENDED), {"outcome": outcome, "serving": name,
                                                     "cleanup_errors": cleanup.errors})
    log("experiment_ended", experiment=experiment.id, outcome=outcome, endpoint_config=name,
        scaling=summary)
    return f"{outcome}: {stage.endpoint_name} serves {name}"
