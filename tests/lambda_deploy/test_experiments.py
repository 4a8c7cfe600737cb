"""Champion vs challenger in production, against moto and AWS-documented behaviour.

A prod stage with an `experiment` section: the first deploy creates the endpoint as usual; the
next one keeps the champion as the production variant and adds the new model as the shadow
variant (ShadowProductionVariants: "Testing models with shadow variants",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html; one production and
one shadow variant, "Create a shadow test", shadow-tests-create.html). moto accepts
CreateEndpointConfig but drops ShadowProductionVariants; `ShadowRecorder` keeps what the request
carried (botocore has already validated it against SageMaker's service model) and returns it
from DescribeEndpointConfig, whose output has that member (API_DescribeEndpointConfig). The
controller's state is in moto's S3, whose conditional writes answer 412 to a second creator
(S3 conditional writes, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
Lambda may deliver the scheduled event more than once and in any order
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from deploy_helpers import (BUCKET, EXPERIMENTS_URI, JOB_A, JOB_B, PREFIX, REGION,
                            deploy_to_in_service, job_event, moto_backend, moto_endpoint)
from lambda_deploy import aws as lambda_aws
from lambda_deploy.experiment import CONTROLLER_EVENT
from lambda_deploy.handler import controller, handler

ENDPOINT = f"{PREFIX}-prod"
# What the function reads of a stage's experiment; the verdict's rule is the monitor job's.
EXPERIMENT = {"challenger_variant": "Challenger", "max_days": 30}
CONTROLLER = {CONTROLLER_EVENT: "scheduled"}


class ShadowRecorder:
    """What moto drops: the ShadowProductionVariants of each endpoint config created."""

    def __init__(self):
        self.shadows: dict[str, list] = {}
        events = lambda_aws.session().events
        events.register("before-call.sagemaker.CreateEndpointConfig", self._created)
        events.register("after-call.sagemaker.DescribeEndpointConfig", self._described)

    def _created(self, params, **_):
        body = json.loads(params["body"])
        if "ShadowProductionVariants" in body:
            self.shadows[body["EndpointConfigName"]] = body["ShadowProductionVariants"]

    def _described(self, parsed, **_):
        shadow = self.shadows.get(parsed.get("EndpointConfigName"))
        if shadow is not None:
            parsed["ShadowProductionVariants"] = shadow


@pytest.fixture
def prod(fake, lambda_env, registry, artifacts):
    """An experiment-enabled prod stage whose endpoint serves a champion (package version 1)."""
    lambda_env(prod={"experiment": EXPERIMENT})
    recorder = ShadowRecorder()
    champion = registry.register()
    deploy_to_in_service(fake, artifacts, champion, JOB_A, "prod")
    assert fake.last_reply()[0] == "PutJobSuccessResult"
    return recorder


def s3():
    return lambda_aws.session().client("s3", region_name=REGION)


def state(experiment_id: str) -> dict:
    keys = s3().list_objects_v2(Bucket=BUCKET, Prefix=f"experiments/{ENDPOINT}/{experiment_id}/")
    return {item["Key"].rsplit("/", 1)[1]: json.loads(s3().get_object(
        Bucket=BUCKET, Key=item["Key"])["Body"].read()) for item in keys.get("Contents", [])}


def put_verdict(experiment_id: str, outcome: str, **extra) -> None:
    s3().put_object(Bucket=BUCKET, Key=f"experiments/{ENDPOINT}/{experiment_id}/verdict.json",
                    Body=json.dumps({"outcome": outcome, "labelled_pairs": 90_000,
                                     "interval": [-0.3, -0.1], **extra}).encode())


def start_experiment(fake, registry, artifacts) -> str:
    """Deploy package version 2 to prod: it joins as the shadow variant."""
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_B, "prod")
    assert fake.last_reply()[0] == "PutJobSuccessResult", fake.last_reply()
    return JOB_B


def serving(endpoint=ENDPOINT) -> dict:
    return moto_backend().endpoint_configs[moto_endpoint(endpoint).endpoint_config_name]


def test_a_new_model_joins_as_the_shadow_variant_beside_the_champion(prod, fake, registry,
                                                                     artifacts):
    champion_config = moto_endpoint(ENDPOINT).endpoint_config_name
    experiment_id = start_experiment(fake, registry, artifacts)
    config = moto_endpoint(ENDPOINT).endpoint_config_name
    request = [c for n, c in fake.calls if n == "UpdateEndpoint"][-1]
    assert request["EndpointConfigName"] == config != champion_config
    # The champion keeps answering on its variant; the challenger is the one shadow variant,
    # captured too (the endpoint config's DataCaptureConfig covers both variants).
    production = serving().production_variants
    assert [(v["VariantName"], v["ModelName"]) for v in production] == [
        ("AllTraffic", champion_config)]
    assert prod.shadows[config] == [{"VariantName": "Challenger", "ModelName": config,
                                     "InstanceType": "ml.m5.large", "InitialInstanceCount": 2,
                                     "InitialVariantWeight": 1.0}]
    assert serving().data_capture_config["EnableCapture"] is True
    started = state(experiment_id)["1-started.json"]["experiment"]
    assert started["champion_model"] == champion_config and started["challenger_model"] == config
    # The deploy's cleanup keeps the champion's model: the shadow config serves it.
    assert champion_config in moto_backend()._models
    # A second challenger waits for the verdict: nothing is created.
    before = len(moto_backend()._models)
    handler(job_event("c0ffee00-0000-4000-8000-000000000003", "prod",
                      artifacts.package(registry.register())), None)
    name, reply = fake.last_reply()
    assert name == "PutJobFailureResult"
    assert f"already runs experiment {experiment_id}" in reply["failureDetails"]["message"]
    assert len(moto_backend()._models) == before


@pytest.mark.infra  # the monitor job's code (pandas) runs in the project's environment
def test_the_monitor_jobs_verdict_is_what_the_controller_promotes_on(prod, fake, registry,
                                                                     artifacts, tmp_path):
    """End to end between the two packages: the deploy job starts the shadow experiment, both
    variants' capture lands where the shadow config sends it, the monitor job writes the verdict
    from it and the labels, and the controller decides on that file and switches once."""
    import boto3

    from pipeline_src.jobs import monitor as monitor_job
    from pipeline_src.jobs.monitor_settings import ExperimentRule, read_environment
    from tests.pipeline_src.conftest import monitor_job_environment, put_experiment_traffic

    experiment_id = start_experiment(fake, registry, artifacts)
    started = state(experiment_id)["1-started.json"]["experiment"]
    start = datetime.fromisoformat(started["started_at"])
    destination = serving().data_capture_config["DestinationS3Uri"]
    bucket, prefix = destination.removeprefix("s3://").split("/", 1)
    put_experiment_traffic(s3(), bucket, ENDPOINT, (started["champion_variant"],
                                                    started["challenger_variant"]), start,
                           capture_prefix=prefix)
    rule = ExperimentRule(label_horizon_days=7, max_days=EXPERIMENT["max_days"],
                          min_labelled_frauds=10, planned_labelled_rows=200)
    settings = read_environment(monitor_job_environment(
        endpoints=[ENDPOINT], bucket=BUCKET, group=f"{PREFIX}-models",
        kms_key_arn=f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        namespace="fraud-mlops/Monitoring", experiments={ENDPOINT: rule}))
    assert settings.experiments_uri == EXPERIMENTS_URI
    job_s3 = boto3.session.Session(region_name=REGION).client("s3")
    (written,) = monitor_job.experiment_verdicts(job_s3, job_s3, settings, ENDPOINT, destination,
                                                 start + timedelta(days=15), tmp_path,
                                                 tmp_path / "out")
    assert written["outcome"] == "promote" and written["experiment"] == experiment_id
    assert state(experiment_id)["verdict.json"] == written
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith("promote: switching")
    decided = state(experiment_id)["2-decided.json"]
    assert decided["outcome"] == "promote" and decided["verdict"] == written
    assert [c["EndpointConfigName"] for n, c in fake.calls if n == "UpdateEndpoint"][-1] == \
        state(experiment_id)["3-switching.json"]["config"]


def test_promotion_happens_once_whatever_the_runs_repeat_or_the_endpoint_is_doing(
        prod, fake, registry, artifacts):
    experiment_id = start_experiment(fake, registry, artifacts)
    challenger_model = state(experiment_id)["1-started.json"]["experiment"]["challenger_model"]
    updates = len(fake.named("UpdateEndpoint"))
    # No verdict yet: nothing happens, however often the controller runs.
    assert handler(CONTROLLER, None)["stages"]["prod"] == "running"
    put_verdict(experiment_id, "promote")
    first = handler(CONTROLLER, None)["stages"]["prod"]
    assert first.startswith("promote: switching")
    # Delivered again (at least once) while the endpoint is Updating: it waits, no new update.
    assert handler(CONTROLLER, None)["stages"]["prod"] == "promote: endpoint Updating, will retry"
    # A late, contradicting verdict (an out-of-order monitor run) cannot undo the decision.
    put_verdict(experiment_id, "reject")
    fake.finish_update(ENDPOINT)
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith(f"promote: {ENDPOINT} serves")
    assert handler(CONTROLLER, None)["stages"]["prod"] == "no experiment"
    assert len(fake.named("UpdateEndpoint")) == updates + 1
    # The winner is the only production variant, under the stable variant name, tagged.
    promoted = serving()
    assert [(v["VariantName"], v["ModelName"]) for v in promoted.production_variants] == [
        ("AllTraffic", challenger_model)]
    assert promoted.endpoint_config_name not in prod.shadows
    steps = state(experiment_id)
    assert steps["2-decided.json"]["outcome"] == "promote"
    assert steps["4-ended.json"]["outcome"] == "promote"
    tags = {t["Key"]: t["Value"] for t in fake.sm.list_tags(
        ResourceArn=promoted.endpoint_config_arn)["Tags"]}
    assert tags["mlops:experiment"] == f"{experiment_id} promote"
    assert tags["mlops:outcome"].startswith("succeeded")
    assert challenger_model in moto_backend()._models


def test_two_runs_that_race_to_decide_follow_the_first_decision(prod, fake, registry,
                                                                  artifacts):
    experiment_id = start_experiment(fake, registry, artifacts)
    champion_model = state(experiment_id)["1-started.json"]["experiment"]["champion_model"]
    # Another run decided "reject" a moment ago (its conditional write won); this run read a
    # "promote" verdict: the recorded decision stands.
    s3().put_object(Bucket=BUCKET, Key=f"experiments/{ENDPOINT}/{experiment_id}/2-decided.json",
                    Body=json.dumps({"outcome": "reject", "verdict": {}}).encode())
    put_verdict(experiment_id, "promote")
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith("reject: switching")
    fake.finish_update(ENDPOINT)
    handler(CONTROLLER, None)
    assert [v["ModelName"] for v in serving().production_variants] == [champion_model]


def test_too_few_labels_by_the_maximum_duration_keeps_the_champion(prod, fake, registry,
                                                                   artifacts):
    experiment_id = start_experiment(fake, registry, artifacts)
    champion_model = state(experiment_id)["1-started.json"]["experiment"]["champion_model"]
    put_verdict(experiment_id, "continue", labelled_pairs=40, interval=None)
    assert handler(CONTROLLER, None)["stages"]["prod"] == "running"
    # 31 days later (max_days 30), still no final verdict: inconclusive, never a promotion.
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert controller(now=later)["stages"]["prod"].startswith("inconclusive: switching")
    fake.finish_update(ENDPOINT)
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith("inconclusive:")
    assert [v["ModelName"] for v in serving().production_variants] == [champion_model]
    assert state(experiment_id)["2-decided.json"]["outcome"] == "inconclusive"


def test_a_rolled_back_switch_ends_the_experiment_without_a_second_update(prod, fake,
                                                                          registry, artifacts):
    experiment_id = start_experiment(fake, registry, artifacts)
    shadow_config = moto_endpoint(ENDPOINT).endpoint_config_name
    put_verdict(experiment_id, "promote")
    handler(CONTROLLER, None)
    fake.roll_back(ENDPOINT, "alarm fired")
    updates = len(fake.named("UpdateEndpoint"))
    result = handler(CONTROLLER, None)["stages"]["prod"]
    assert "was rolled back" in result and shadow_config in result
    assert handler(CONTROLLER, None)["stages"]["prod"] == "no experiment"
    assert len(fake.named("UpdateEndpoint")) == updates


def test_a_run_that_stops_between_its_claim_and_the_update_is_resumed_once(prod, fake, registry,
                                                                           artifacts):
    """The function can stop between recording 3-switching and calling UpdateEndpoint (a timeout
    or crash: Lambda retries an asynchronous event that fails, invocation-async.html). The next
    run finds the claim, no record of the update and the shadow config serving: it makes the
    update once (3-resumed) instead of reporting a rollback; the experiment then ends as usual."""
    experiment_id = start_experiment(fake, registry, artifacts)
    challenger_model = state(experiment_id)["1-started.json"]["experiment"]["challenger_model"]
    put_verdict(experiment_id, "promote")
    updates = len(fake.named("UpdateEndpoint"))

    from lambda_deploy import experiment

    def stop(*_):
        raise TimeoutError("the function stopped here")

    # The function stops right after its claim, before it calls UpdateEndpoint.
    update_to, experiment.update_to = experiment.update_to, stop
    try:
        with pytest.raises(TimeoutError):
            handler(CONTROLLER, None)
    finally:
        experiment.update_to = update_to
    assert {"3-switching.json"} <= set(state(experiment_id)) and \
        "3-updated.json" not in state(experiment_id)
    assert len(fake.named("UpdateEndpoint")) == updates
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith("promote: switching")
    assert {"3-resumed.json", "3-updated.json"} <= set(state(experiment_id))
    # Delivered again while it updates: it waits; no second resume, no second update.
    assert handler(CONTROLLER, None)["stages"]["prod"] == "promote: endpoint Updating, will retry"
    fake.finish_update(ENDPOINT)
    assert handler(CONTROLLER, None)["stages"]["prod"].startswith(f"promote: {ENDPOINT} serves")
    assert [v["ModelName"] for v in serving().production_variants] == [challenger_model]
    assert len(fake.named("UpdateEndpoint")) == updates + 1


def test_an_update_seen_in_progress_is_recorded_so_its_rollback_ends_the_experiment(
        prod, fake, registry, artifacts):
    """The run stopped after SageMaker accepted the update but before recording it: the next run
    sees the endpoint Updating and records the update, so a rollback that follows is read as
    one (the experiment ends, champion and shadow keep serving) and not updated again."""
    experiment_id = start_experiment(fake, registry, artifacts)
    put_verdict(experiment_id, "promote")
    handler(CONTROLLER, None)
    updates = len(fake.named("UpdateEndpoint"))
    # As if the record of the accepted update had never been written.
    s3().delete_object(Bucket=BUCKET, Key=f"experiments/{ENDPOINT}/{experiment_id}/3-updated.json")
    assert handler(CONTROLLER, None)["stages"]["prod"] == "promote: endpoint Updating, will retry"
    assert state(experiment_id)["3-updated.json"]["seen"] == "Updating"
    fake.roll_back(ENDPOINT, "alarm fired")
    assert "was rolled back" in handler(CONTROLLER, None)["stages"]["prod"]
    assert len(fake.named("UpdateEndpoint")) == updates
    assert "3-resumed.json" not in state(experiment_id)


# --- the live phase -------------------------------------------------------------------------------
# After a shadow win, with experiment.live_share: both models as production variants under their
# stable names, the challenger's share set by UpdateEndpointWeightsAndCapacities (absolute
# DesiredWeight; SageMaker puts the endpoint in Updating until it is done,
# API_UpdateEndpointWeightsAndCapacities) only when the endpoint is InService, its own rollback
# alarms (dimension VariantName), the unpaired live verdict, then promotion or the champion alone.
LIVE_ALARMS = [f"{PREFIX}-prod-live_5xx-errors", f"{PREFIX}-prod-live_model-latency"]
SHARE = 0.1


class WeightCalls:
    """The UpdateEndpointWeightsAndCapacities requests (moto then applies them)."""

    def __init__(self):
        self.requests: list[dict] = []
        lambda_aws.client("sagemaker").meta.events.register(
            "before-call.sagemaker.UpdateEndpointWeightsAndCapacities", self._record)

    def _record(self, params, **_):
        body = json.loads(params["body"])
        self.requests.append({w["VariantName"]: w["DesiredWeight"]
                              for w in body["DesiredWeightsAndCapacities"]})


def cloudwatch():
    return lambda_aws.session().client("cloudwatch", region_name=REGION)


@pytest.fixture
def live_prod(fake, lambda_env, registry, artifacts):
    """prod with a live phase; its two rollback alarms as infra/endpoint_alarms.py makes them."""
    lambda_env(prod={"experiment": {**EXPERIMENT, "live_share": SHARE},
                     "live_alarm_names": LIVE_ALARMS})
    for name, metric, statistic, threshold in (
            (f"{PREFIX}-prod-5xx-errors", "Invocation5XXErrors", {"Statistic": "Sum"}, 1.0),
            (f"{PREFIX}-prod-model-latency", "ModelLatency", {"ExtendedStatistic": "p99"},
             500_000.0)):
        cloudwatch().put_metric_alarm(
            AlarmName=name, Namespace="AWS/SageMaker", MetricName=metric, **statistic,
            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT},
                        {"Name": "VariantName", "Value": "AllTraffic"}],
            Period=60, EvaluationPeriods=2, DatapointsToAlarm=2, Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    recorder = ShadowRecorder()
    deploy_to_in_service(fake, artifacts, registry.register(), JOB_A, "prod")
    return recorder


def run() -> str:
    return handler(CONTROLLER, None)["stages"]["prod"]


def put_live_verdict(experiment_id: str, outcome: str) -> None:
    s3().put_object(Bucket=BUCKET, Key=f"experiments/{ENDPOINT}/{experiment_id}/"
                    "live-verdict.json", Body=json.dumps({
                        "outcome": outcome, "phase": "live", "labelled_rows": 400_000,
                        "interval": [-0.4, -0.1]}).encode())


def to_live(fake, registry, artifacts) -> tuple[str, WeightCalls]:
    """Start the experiment, win the shadow phase and reach the live phase (6-live)."""
    experiment_id = start_experiment(fake, registry, artifacts)
    weights = WeightCalls()
    put_verdict(experiment_id, "promote")
    assert run().startswith("promote (live phase): switching")
    fake.finish_update(ENDPOINT)
    assert run() == "live: setting the challenger's share"
    assert run() == f"live: Challenger serves 10% of {ENDPOINT}"
    return experiment_id, weights


def test_a_shadow_win_starts_the_live_phase_once_and_promotes_on_the_live_verdict(
        live_prod, fake, registry, artifacts):
    experiment_id = start_experiment(fake, registry, artifacts)
    started = state(experiment_id)["1-started.json"]["experiment"]
    weights = WeightCalls()
    updates = len(fake.named("UpdateEndpoint"))
    put_verdict(experiment_id, "promote")
    assert run().startswith("promote (live phase): switching")
    # Both models as production variants under their stable names, the challenger at 0 until
    # the controller sets its share; no shadow variant (one production variant only beside one).
    live = serving_config_of(fake.named("UpdateEndpoint")[-1]["EndpointConfigName"])
    assert [(v["VariantName"], v["ModelName"], v["InitialVariantWeight"])
            for v in live.production_variants] == [
        ("AllTraffic", started["champion_model"], 1.0),
        ("Challenger", started["challenger_model"], 0.0)]
    assert live.endpoint_config_name not in live_prod.shadows
    # The challenger variant's rollback alarms: the champion's, on VariantName Challenger; they
    # guard this update too.
    alarms = {a["AlarmName"]: a for a in cloudwatch().describe_alarms(
        AlarmNames=LIVE_ALARMS)["MetricAlarms"]}
    assert sorted(alarms) == sorted(LIVE_ALARMS)
    errors = alarms[LIVE_ALARMS[0]]
    assert errors["MetricName"] == "Invocation5XXErrors" and errors["Threshold"] == 1.0
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "EndpointName": ENDPOINT, "VariantName": "Challenger"}
    assert alarms[LIVE_ALARMS[1]]["ExtendedStatistic"] == "p99"
    rollback = fake.named("UpdateEndpoint")[-1]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert [a["AlarmName"] for a in rollback["Alarms"]][-2:] == LIVE_ALARMS
    # Delivered again while the endpoint updates: no weights are set on a busy endpoint.
    assert run() == "promote (live phase): endpoint Updating, will retry"
    assert weights.requests == []
    fake.finish_update(ENDPOINT)
    # Busy for another reason (e.g. autoscaling) when the controller runs: it retries later.
    fake.set_status(ENDPOINT, "Updating")
    assert run() == "promote (live phase): endpoint Updating, will retry"
    assert weights.requests == []
    fake.set_status(ENDPOINT, "InService")
    assert run() == "live: setting the challenger's share"
    assert weights.requests == [{"AllTraffic": 1 - SHARE, "Challenger": SHARE}]
    # The next run finds the weights in effect and records when the live phase began.
    assert run() == f"live: Challenger serves 10% of {ENDPOINT}"
    record = state(experiment_id)["6-live.json"]
    assert record["share"] == SHARE and datetime.fromisoformat(record["started_at"])
    assert run() == "live: running"
    assert len(weights.requests) == 1
    put_live_verdict(experiment_id, "promote")
    assert run().startswith("promote: switching")
    assert run() == "promote: endpoint Updating, will retry"
    # A late, contradicting live verdict (an out-of-order monitor run) changes nothing.
    put_live_verdict(experiment_id, "reject")
    fake.finish_update(ENDPOINT)
    assert run().startswith(f"promote: {ENDPOINT} serves")
    assert run() == "no experiment"
    assert len(fake.named("UpdateEndpoint")) == updates + 2 and len(weights.requests) == 1
    assert [(v["VariantName"], v["ModelName"]) for v in serving().production_variants] == [
        ("AllTraffic", started["challenger_model"])]
    steps = state(experiment_id)
    assert steps["7-live-decided.json"]["outcome"] == "promote"
    assert steps["4-ended.json"]["outcome"] == "promote"
    assert cloudwatch().describe_alarms(AlarmNames=LIVE_ALARMS)["MetricAlarms"] == []


def serving_config_of(name: str):
    return moto_backend().endpoint_configs[name]


def test_a_challenger_alarm_in_the_live_phase_ends_it_with_the_champion_once(
        live_prod, fake, registry, artifacts):
    experiment_id, weights = to_live(fake, registry, artifacts)
    champion_model = state(experiment_id)["1-started.json"]["experiment"]["champion_model"]
    updates = len(fake.named("UpdateEndpoint"))
    cloudwatch().set_alarm_state(AlarmName=LIVE_ALARMS[0], StateValue="ALARM",
                                 StateReason="Threshold Crossed: 3 5XX errors")
    # The challenger's traffic is taken away first (absolute weight 0), at once.
    assert run() == "live-alarm: the challenger's weight set to 0"
    assert weights.requests[-1] == {"AllTraffic": 1.0, "Challenger": 0.0}
    decided = state(experiment_id)["7-live-decided.json"]
    assert decided["outcome"] == "alarm" and LIVE_ALARMS[0] in decided["alarms"][0]
    # A duplicate run, and a late "promote" live verdict, do not change the decision.
    put_live_verdict(experiment_id, "promote")
    assert run().startswith("live-alarm: switching")
    assert run() == "live-alarm: endpoint Updating, will retry"
    fake.finish_update(ENDPOINT)
    assert run().startswith(f"live-alarm: {ENDPOINT} serves")
    assert run() == "no experiment"
    assert len(fake.named("UpdateEndpoint")) == updates + 1 and len(weights.requests) == 2
    assert [(v["VariantName"], v["ModelName"]) for v in serving().production_variants] == [
        ("AllTraffic", champion_model)]
    assert state(experiment_id)["4-ended.json"]["outcome"] == "live-alarm"
    tags = {t["Key"]: t["Value"] for t in fake.sm.list_tags(
        ResourceArn=serving().endpoint_config_arn)["Tags"]}
    assert tags["mlops:experiment"] == f"{experiment_id} live-alarm"


def test_no_live_verdict_by_the_maximum_duration_keeps_the_champion(live_prod, fake, registry,
                                                                   artifacts):
    experiment_id, weights = to_live(fake, registry, artifacts)
    put_live_verdict(experiment_id, "continue")
    assert run() == "live: running"
    # max_days counted from the live phase's start: 31 days later, inconclusive.
    later = datetime.now(timezone.utc) + timedelta(days=31)
    assert controller(now=later)["stages"]["prod"] == \
        "live-inconclusive: the challenger's weight set to 0"
    assert controller(now=later)["stages"]["prod"].startswith("live-inconclusive: switching")
    assert state(experiment_id)["7-live-decided.json"]["outcome"] == "inconclusive"
