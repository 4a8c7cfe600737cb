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

The optional live phase (a stage's experiment.live_share > 0): a shadow win does not promote at
once. The endpoint moves (one UpdateEndpoint, 5-live-switching / 5-live-updated / 5-live-resumed
as the switch above) from the shadow config to a live config with both models as production
variants under their stable names (the champion under the stage's variant name, the challenger
under experiment.challenger_variant) and the challenger at weight 0: a config with
ShadowProductionVariants allows one production variant only (API_CreateEndpointConfig,
ShadowProductionVariants; "Testing models with shadow variants"), so the second production
variant takes a new config, and UpdateEndpoint "deploys the EndpointConfig specified in the
request to a new fleet of instances" (API_UpdateEndpoint). Before it the function creates the
challenger variant's rollback alarms (the champion variant's two alarms, PutMetricAlarm with
dimension VariantName = the challenger's), which also guard that update. Once the endpoint is
InService on the live config, UpdateEndpointWeightsAndCapacities sets absolute weights
(DesiredWeight: 1 - share and share; it puts the endpoint in Updating until done,
API_UpdateEndpointWeightsAndCapacities), only when the endpoint is InService (busy: the next
run retries); a run that then finds the weights in effect records 6-live (share, start time),
from which the monitor job writes the unpaired live-verdict.json. 7-live-decided holds the first
final live verdict, its maximum duration (counted from 6-live), or an alarm of the challenger
variant in ALARM. Promote: the switch above to the winner's config, from the live config. Any
other end: the challenger's weight is set to 0 first (absolute, idempotent), then the endpoint
moves to the champion's own config; both end as a plain deploy does (4-ended), and the
challenger's alarms are deleted.
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
LIVE_SWITCHING, LIVE_UPDATED, LIVE_RESUMED = "5-live-switching", "5-live-updated", "5-live-resumed"
LIVE, LIVE_DECIDED = "6-live", "7-live-decided"
VERDICT, LIVE_VERDICT = "verdict.json", "live-verdict.json"
# (claim, accepted, resumed) of each endpoint move.
FINAL_MOVE = (SWITCHING, UPDATED, RESUMED)
LIVE_MOVE = (LIVE_SWITCHING, LIVE_UPDATED, LIVE_RESUMED)
# SageMaker tag values allow letters, digits, spaces and _.:/=+-@ only (no parentheses).
LIVE_END = {"reject": "live-reject", "inconclusive": "live-inconclusive", "alarm": "live-alarm"}
WEIGHT_TOLERANCE = 1e-6
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
    if outcome == "promote" and (stage.experiment.live_share > 0 or LIVE_SWITCHING in done):
        # A live phase once begun runs to its end, even if the stage's setting changed since.
        return live_phase(bucket, prefix, settings, stage, experiment, done, now)
    target = target_config(settings, stage, experiment, outcome)
    return switch(bucket, prefix, settings, stage, experiment, outcome, target, done)


def decide(bucket: str, prefix: str, experiment: Experiment, stage: StageSettings,
           now: datetime, *, phase: tuple = (VERDICT, DECIDED), started_at: str | None = None,
           ) -> dict | None:
    """Record the first final verdict (or inconclusive after the maximum duration); the live
    phase's with phase=(LIVE_VERDICT, LIVE_DECIDED) and its own start."""
    verdict_name, step = phase
    verdict = read(bucket, f"{prefix}/{experiment.endpoint}/{experiment.id}/{verdict_name}") or {}
    started = datetime.fromisoformat(started_at or experiment.started_at)
    outcome = verdict.get("outcome")
    if outcome not in FINAL:
        if now < started + timedelta(days=stage.experiment.max_days):
            log("experiment_running", experiment=experiment.id, phase=step,
                verdict=outcome or "none yet",
                labelled=verdict.get("labelled_pairs", verdict.get("labelled_rows")),
                interval=verdict.get("interval"))
            return None
        # No final verdict by the maximum duration: the champion stays (never promote by default).
        outcome = "inconclusive"
    decision = {"outcome": outcome, "decided_at": now.isoformat(timespec="seconds"),
                "verdict": verdict}
    return record_decision(bucket, prefix, experiment, step, decision)


def record_decision(bucket: str, prefix: str, experiment: Experiment, step: str,
                    decision: dict) -> dict:
    if not put_once(bucket, experiment.key(prefix, step), decision):
        # Another run decided first: its decision stands.
        decision = read(bucket, experiment.key(prefix, step))
    verdict = decision.get("verdict") or {}
    log("experiment_decided", experiment=experiment.id, phase=step, outcome=decision["outcome"],
        interval=verdict.get("interval"),
        labelled=verdict.get("labelled_pairs", verdict.get("labelled_rows")))
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


def endpoint_now(stage: StageSettings) -> dict:
    endpoint = deploy.describe_endpoint(stage.endpoint_name)
    if endpoint is None:
        raise DeployFailure(f"endpoint {stage.endpoint_name} no longer exists")
    return endpoint


def switch(bucket: str, prefix: str, settings: Settings, stage: StageSettings,
           experiment: Experiment, outcome: str, target: tuple, done: set,
           source: str | None = None) -> str:
    """Move to the winner's config (from the shadow config, or the live config: `source`), then
    finish there."""
    name, model, _ = target

    def prepare(endpoint):
        create_final_config(name, model, settings, stage, experiment, outcome, endpoint)

    def arrived():
        return finish(bucket, prefix, settings, stage, experiment, outcome, name)

    return move(bucket, prefix, stage, experiment, outcome, name, done,
                source or experiment.config, FINAL_MOVE, prepare, arrived,
                deploy.deployment_config(stage))


def move(bucket: str, prefix: str, stage: StageSettings, experiment: Experiment, outcome: str,
         name: str, done: set, source: str, steps: tuple, prepare, arrived,
         deployment: dict) -> str:
    """One UpdateEndpoint from `source` to config `name`, claimed once (steps: claim, accepted,
    resumed); arrived() once the endpoint is InService on it."""
    claim, accepted, resumed = steps
    endpoint = endpoint_now(stage)
    status, serving = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
    if status in deploy.BUSY_STATUSES:
        if claim in done and accepted not in done and status == "Updating":
            # The claimed update is under way: the run that made it stopped before recording
            # it. Recorded now, so a rollback is later read as one, not as a missing update.
            put_once(bucket, experiment.key(prefix, accepted), {"config": name, "seen": status})
        log("experiment_waiting", experiment=experiment.id, endpoint=stage.endpoint_name,
            status=status)
        return f"{outcome}: endpoint {status}, will retry"
    if status != "InService":
        raise DeployFailure(f"endpoint {stage.endpoint_name} is {status}; the experiment "
                            f"{experiment.id} cannot move on ({outcome}) until it is InService")
    if serving == name:
        return arrived()
    if claim in done:
        if accepted not in done and resumed not in done and serving == source:
            # Claimed, never recorded as made, and the old config still serves: the run that
            # claimed the switch stopped before (or while) calling UpdateEndpoint. Resume it,
            # once (its own conditional claim), instead of reading it as a rollback.
            if not put_once(bucket, experiment.key(prefix, resumed), {"config": name}):
                return f"{outcome}: another run resumes the switch"
            warn("experiment_switch_resumed", experiment=experiment.id, target=name)
            return update_to(bucket, prefix, stage, experiment, outcome, name, accepted,
                             deployment)
        # The update was made (or resumed once) and the endpoint is not on it: SageMaker
        # rolled it back (an alarm fired), or it was never accepted. The experiment ends with
        # the old config still serving; a person looks at why.
        put_once(bucket, experiment.key(prefix, ENDED), {
            "outcome": f"{outcome} rolled back", "serving": serving})
        remove_live_alarms(stage, experiment, done)
        warn("experiment_switch_rolled_back", experiment=experiment.id, serving=serving,
             target=name)
        return f"{outcome}: the switch to {name} was rolled back; {serving} serves"
    prepare(endpoint)
    if not put_once(bucket, experiment.key(prefix, claim), {"config": name,
                                                            **claim_details(stage, steps)}):
        return f"{outcome}: another run switches the endpoint"
    return update_to(bucket, prefix, stage, experiment, outcome, name, accepted, deployment)


def claim_details(stage: StageSettings, steps: tuple) -> dict:
    """What the live phase keeps from the moment it began (its share)."""
    return {"share": stage.experiment.live_share} if steps == LIVE_MOVE else {}


def update_to(bucket: str, prefix: str, stage: StageSettings, experiment: Experiment,
              outcome: str, name: str, accepted: str = UPDATED,
              deployment: dict | None = None) -> str:
    """The one UpdateEndpoint to the next config (its claim already recorded), then the record
    that it was accepted."""
    sagemaker = aws.target("sagemaker")
    try:
        sagemaker.update_endpoint(EndpointName=stage.endpoint_name, EndpointConfigName=name,
                                  RetainAllVariantProperties=False,
                                  DeploymentConfig=deployment or deploy.deployment_config(stage))
    except ClientError as exc:
        raise aws_failure("sagemaker:UpdateEndpoint", exc) from None
    put_once(bucket, experiment.key(prefix, accepted), {"config": name})
    log("experiment_switching", experiment=experiment.id, outcome=outcome, endpoint_config=name)
    return f"{outcome}: switching {stage.endpoint_name} to {name}"


# --- the live phase -----------------------------------------------------------------------------

def live_phase(bucket: str, prefix: str, settings: Settings, stage: StageSettings,
               experiment: Experiment, done: set, now: datetime) -> str:
    """After a shadow win: move to the live config, set the challenger's share, judge it live,
    and end (promote, or the champion alone) by at most one step per run."""
    name = live_config_name(settings, stage, experiment)
    if LIVE_DECIDED in done:
        decision = read(bucket, experiment.key(prefix, LIVE_DECIDED))
        return end_live(bucket, prefix, settings, stage, experiment, done, decision["outcome"],
                        name)
    endpoint = endpoint_now(stage)
    if endpoint.get("EndpointConfigName") != name or \
            endpoint.get("EndpointStatus") != "InService":
        def prepare(current):
            create_live_alarms(stage)
            create_live_config(name, settings, stage, experiment, current)

        def arrived():
            raise AssertionError("unreachable: the endpoint is not InService on the live config")

        return move(bucket, prefix, stage, experiment, "promote (live phase)", name, done,
                    experiment.config, LIVE_MOVE, prepare, arrived, live_deployment(stage))
    # InService on the live config.
    firing = live_alarms_firing(stage)
    if firing:
        decision = record_decision(bucket, prefix, experiment, LIVE_DECIDED, {
            "outcome": "alarm", "decided_at": now.isoformat(timespec="seconds"),
            "alarms": firing})
        return end_live(bucket, prefix, settings, stage, experiment, done | {LIVE_DECIDED},
                        decision["outcome"], name)
    claim = read(bucket, experiment.key(prefix, LIVE_SWITCHING)) or {}
    share = float(claim.get("share") or stage.experiment.live_share)
    desired = {experiment.champion_variant: 1.0 - share, experiment.challenger_variant: share}
    if LIVE not in done:
        if not weights_are(endpoint, desired):
            return set_weights(stage, experiment, desired, "live: setting the challenger's share")
        put_once(bucket, experiment.key(prefix, LIVE), {
            "share": share, "started_at": now.isoformat(timespec="seconds"), "config": name,
            "weights": desired})
        log("experiment_live", experiment=experiment.id, share=share, endpoint_config=name)
        return f"live: {experiment.challenger_variant} serves {share:.0%} of {stage.endpoint_name}"
    live = read(bucket, experiment.key(prefix, LIVE))
    decision = decide(bucket, prefix, experiment, stage, now,
                      phase=(LIVE_VERDICT, LIVE_DECIDED), started_at=live["started_at"])
    if decision is None:
        return "live: running"
    return end_live(bucket, prefix, settings, stage, experiment, done | {LIVE_DECIDED},
                    decision["outcome"], name)


def end_live(bucket: str, prefix: str, settings: Settings, stage: StageSettings,
             experiment: Experiment, done: set, outcome: str, live_name: str) -> str:
    """Promote from the live config; otherwise take the challenger's traffic away first
    (weight 0), then move to the champion's own config."""
    endpoint = endpoint_now(stage)
    champion_alone = {experiment.champion_variant: 1.0, experiment.challenger_variant: 0.0}
    if outcome == "promote":
        rolled_back = (SWITCHING in done and (UPDATED in done or RESUMED in done)
                       and endpoint.get("EndpointConfigName") == live_name
                       and endpoint.get("EndpointStatus") == "InService")
        if rolled_back and not weights_are(endpoint, champion_alone):
            # SageMaker rolled the promotion back (an alarm fired): the live config serves
            # again; its challenger gets no more traffic before the experiment ends there.
            return set_weights(stage, experiment, champion_alone, "promote: the switch was "
                               "rolled back; the challenger's weight set to 0")
        return switch(bucket, prefix, settings, stage, experiment, "promote",
                      target_config(settings, stage, experiment, "promote"), done,
                      source=live_name)
    ending = LIVE_END.get(outcome, f"live-{outcome}")
    if SWITCHING not in done and endpoint.get("EndpointConfigName") == live_name:
        if endpoint.get("EndpointStatus") != "InService":
            log("experiment_waiting", experiment=experiment.id, endpoint=stage.endpoint_name,
                status=endpoint.get("EndpointStatus"))
            return f"{ending}: endpoint {endpoint.get('EndpointStatus')}, will retry"
        if not weights_are(endpoint, champion_alone):
            return set_weights(stage, experiment, champion_alone,
                               f"{ending}: the challenger's weight set to 0")
    return switch(bucket, prefix, settings, stage, experiment, ending,
                  target_config(settings, stage, experiment, ending), done, source=live_name)


def live_config_name(settings: Settings, stage: StageSettings, experiment: Experiment) -> str:
    return deploy.resource_name(settings, stage.stage, experiment.challenger_package_version,
                                "l" + experiment.id)


def live_deployment(stage: StageSettings) -> dict:
    """The stage's blue/green update, rolled back by its alarms and the challenger's."""
    deployment = deploy.deployment_config(stage)
    deployment["AutoRollbackConfiguration"]["Alarms"] += [
        {"AlarmName": a} for a in stage.live_alarm_names]
    return deployment


def current_weights(endpoint: dict) -> dict[str, float]:
    """Each production variant's weight in effect (DescribeEndpoint CurrentWeight; absent is 0)."""
    return {v["VariantName"]: float(v.get("CurrentWeight") or 0.0)
            for v in endpoint.get("ProductionVariants") or []}


def weights_are(endpoint: dict, desired: dict[str, float]) -> bool:
    now = current_weights(endpoint)
    return all(abs(now.get(variant, -1.0) - weight) <= WEIGHT_TOLERANCE
               for variant, weight in desired.items())


def set_weights(stage: StageSettings, experiment: Experiment, desired: dict[str, float],
                result: str) -> str:
    """Absolute weights (DesiredWeight), called only when the endpoint is InService; the
    endpoint is Updating until they are in effect, and a later run checks them."""
    try:
        aws.target("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=stage.endpoint_name, DesiredWeightsAndCapacities=[
                {"VariantName": variant, "DesiredWeight": weight}
                for variant, weight in desired.items()])
    except ClientError as exc:
        raise aws_failure("sagemaker:UpdateEndpointWeightsAndCapacities", exc) from None
    log("experiment_weights", experiment=experiment.id, weights=desired)
    return result


def create_live_config(name: str, settings: Settings, stage: StageSettings,
                       experiment: Experiment, endpoint: dict) -> None:
    """Both models as production variants under their stable names, the challenger at weight 0
    (the controller sets its share once the endpoint is InService); data capture as any
    deploy's, which files each request under the variant that served it."""
    counts = scaling.carried_instance_counts(stage, endpoint)
    package = _Package(arn=experiment.challenger_package_arn, commit=None)
    request = deploy.endpoint_config_request(name, settings, stage, package, experiment.id,
                                             counts)
    champion = request["ProductionVariants"][0]
    champion["ModelName"] = experiment.champion_model
    request["ProductionVariants"].append({
        **champion, "VariantName": experiment.challenger_variant,
        "ModelName": experiment.challenger_model, "InitialVariantWeight": 0.0})
    request["Tags"].append({"Key": "mlops:experiment", "Value": f"{experiment.id} live"})
    create_config_once(name, request)


def create_config_once(name: str, request: dict) -> None:
    """CreateEndpointConfig unless a config of that name exists (a repeated run)."""
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
    log("experiment_config_created", endpoint_config=name)


# Of a champion alarm, what its challenger copy keeps (PutMetricAlarm's parameters).
ALARM_FIELDS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
                "InsufficientDataActions", "MetricName", "Namespace", "Statistic",
                "ExtendedStatistic", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm",
                "Threshold", "ComparisonOperator", "TreatMissingData")


def create_live_alarms(stage: StageSettings) -> None:
    """The challenger variant's rollback alarms: the champion variant's two alarms (the same
    metrics, thresholds and actions) with dimension VariantName = the challenger's
    (PutMetricAlarm creates or replaces an alarm of that name)."""
    cloudwatch = aws.target("cloudwatch")
    sources = list(stage.alarm_names[:len(stage.live_alarm_names)])
    try:
        found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
            AlarmNames=sources).get("MetricAlarms", [])}
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure("cloudwatch:DescribeAlarms", exc) from None
    for source, name in zip(sources, stage.live_alarm_names):
        if source not in found:
            raise DeployFailure(f"rollback alarm {source} does not exist: the challenger's "
                                f"alarm {name} is made from it")
        alarm = found[source]
        request = {k: alarm[k] for k in ALARM_FIELDS if alarm.get(k) not in (None, [])}
        request["Dimensions"] = [
            {"Name": d["Name"], "Value": stage.experiment.challenger_variant
             if d["Name"] == "VariantName" else d["Value"]} for d in alarm.get("Dimensions", [])]
        if not any(d["Name"] == "VariantName" for d in request["Dimensions"]):
            request["Dimensions"].append({"Name": "VariantName",
                                          "Value": stage.experiment.challenger_variant})
        request["AlarmDescription"] = (f"{stage.endpoint_name} variant "
                                       f"{stage.experiment.challenger_variant} (experiment live "
                                       f"phase), as {source}")
        try:
            cloudwatch.put_metric_alarm(AlarmName=name, **request)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure("cloudwatch:PutMetricAlarm", exc) from None
    log("experiment_alarms_created", alarms=list(stage.live_alarm_names))


def live_alarms_firing(stage: StageSettings) -> list[str]:
    """The challenger variant's alarms in ALARM; an unreadable state fails the run (it retries)."""
    try:
        alarms = aws.target("cloudwatch").describe_alarms(
            AlarmNames=list(stage.live_alarm_names)).get("MetricAlarms", [])
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure("cloudwatch:DescribeAlarms", exc) from None
    return [f"{a['AlarmName']} ({a.get('StateReason', 'no reason')})" for a in alarms
            if a.get("StateValue") == "ALARM"]


def remove_live_alarms(stage: StageSettings, experiment: Experiment, done: set) -> None:
    """Delete the challenger's alarms once its variant is gone (best effort: logged)."""
    if LIVE_SWITCHING not in done or not stage.live_alarm_names:
        return
    try:
        aws.target("cloudwatch").delete_alarms(AlarmNames=list(stage.live_alarm_names))
    except (ClientError, BotoCoreError) as exc:
        warn("experiment_alarms_not_deleted", experiment=experiment.id, error=str(exc))


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
    create_config_once(name, request)


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
    remove_live_alarms(stage, experiment,
                       steps(bucket, prefix, stage.endpoint_name).get(experiment.id, set()))
    log("experiment_ended", experiment=experiment.id, outcome=outcome, endpoint_config=name,
        scaling=summary)
    return f"{outcome}: {stage.endpoint_name} serves {name}"
