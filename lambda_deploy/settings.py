"""The function's environment (set by infra/deploy_function.py) and the action's UserParameters.

Everything is checked up front: a broken environment fails the job as a ConfigurationError
naming the variable and the key, before anything is created.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass

from lambda_deploy.errors import ConfigurationFailure

STRATEGIES = ("all_at_once", "canary", "linear")
SAGEMAKER_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"
SAGEMAKER_NAME_RE = re.compile(f"^{SAGEMAKER_NAME}$")
SAGEMAKER_NAME_MAX = 63
# Stages are data (config/<env>.json "stages"); a stage name is part of its endpoint's name.
STAGE_NAME = r"[a-z][a-z0-9]*"
STAGE_NAME_MAX = 16
MAX_STAGES = 10
# Each variant has two rollback alarms; AutoRollbackConfiguration takes at most 10.
MAX_VARIANTS = 5
VARIANT_NAME_MAX = 63
DEFAULT_VARIANT = "AllTraffic"
REQUIRED_ENV = ("PROJECT_NAME", "ENVIRONMENT", "RESOURCE_PREFIX", "MODEL_PACKAGE_GROUP",
                "STAGE_SETTINGS")
ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
# sts:ExternalId: 2-1224 characters of [\w+=,.@:/-].
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]{2,1224}")


@dataclass(frozen=True)
class DeploymentSettings:
    strategy: str
    canary_percent: int
    linear_step_percent: int
    wait_seconds: int
    termination_wait_seconds: int
    max_execution_timeout_seconds: int


@dataclass(frozen=True)
class AutoscalingSettings:
    """Target tracking on SageMakerVariantInvocationsPerInstance for the endpoint's variant."""

    min_instances: int
    max_instances: int
    target_invocations_per_instance: int
    # Scale out quickly on load; scale in slowly so a short lull does not drop capacity.
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 300


@dataclass(frozen=True)
class Variant:
    """A production variant; every variant of a stage serves the model the stage deploys."""

    name: str
    weight: float


@dataclass(frozen=True)
class StageSettings:
    stage: str
    endpoint_name: str
    instance_type: str
    initial_instance_count: int
    accept_pending_approval: bool
    deployment: DeploymentSettings
    alarm_names: tuple[str, ...]
    data_capture_percent: int
    keep_previous: int
    smoke_test: bool
    # Where the endpoint lives and what it runs as, in the stage's account.
    region: str
    execution_role_arn: str
    kms_key_arn: str
    data_capture_s3_uri: str
    variants: tuple[Variant, ...] = (Variant(DEFAULT_VARIANT, 1.0),)
    autoscaling: AutoscalingSettings | None = None
    # A stage in another account: the deployer role there (its ARN names the account) that
    # every call of the stage is made with (AssumeRole with external_id). None: the function's
    # own account.
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def account_id(self) -> str | None:
        return ROLE_ARN_RE.fullmatch(self.role_arn).group(1) if self.role_arn else None


@dataclass(frozen=True)
class Settings:
    project: str
    environment: str
    prefix: str
    model_package_group: str
    smoke_test_csv: str
    stages: dict


def _fail(where: str, message: str):
    raise ConfigurationFailure(f"deploy function environment: {where}: {message}")


def _int(data: dict, key: str, where: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"{where}.{key}", f"expected an integer, got {json.dumps(value)}")
    if not low <= value <= high:
        _fail(f"{where}.{key}", f"{value} is outside {low}..{high}")
    return value


def _bool(data: dict, key: str, where: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        _fail(f"{where}.{key}", f"expected true or false, got {json.dumps(value)}")
    return value


def _deployment(data, where: str) -> DeploymentSettings:
    if not isinstance(data, dict):
        _fail(where, "expected an object")
    strategy = data.get("strategy")
    if strategy not in STRATEGIES:
        _fail(f"{where}.strategy", f"{json.dumps(strategy)}; allowed: {', '.join(STRATEGIES)}")
    # Limits SageMaker's BlueGreenUpdatePolicy accepts.
    return DeploymentSettings(
        strategy=strategy,
        canary_percent=_int(data, "canary_percent", where, 1, 50),
        linear_step_percent=_int(data, "linear_step_percent", where, 10, 50),
        wait_seconds=_int(data, "wait_seconds", where, 0, 3600),
        termination_wait_seconds=_int(data, "termination_wait_seconds", where, 0, 3600),
        max_execution_timeout_seconds=_int(data, "max_execution_timeout_seconds", where,
                                           600, 28800),
    )


# Application Auto Scaling accepts any capacity; this bounds what one variant may cost.
MAX_INSTANCES = 100
# SageMakerVariantInvocationsPerInstance is invocations per instance per minute.
MAX_TARGET_INVOCATIONS = 1_000_000
MAX_COOLDOWN_SECONDS = 3600
COOLDOWNS = ("scale_out_cooldown_seconds", "scale_in_cooldown_seconds")


def _autoscaling(data, where: str, initial_count: int) -> AutoscalingSettings | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        _fail(where, "expected an object or null")
    allowed = ("min_instances", "max_instances", "target_invocations_per_instance") + COOLDOWNS
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"unknown setting; allowed: {', '.join(allowed)}")
    low = _int(data, "min_instances", where, 1, MAX_INSTANCES)
    high = _int(data, "max_instances", where, low, MAX_INSTANCES)
    if not low <= initial_count <= high:
        _fail(f"{where}", f"initial_instance_count {initial_count} is outside "
              f"min_instances..max_instances ({low}..{high})")
    cooldowns = {key: _int(data, key, where, 0, MAX_COOLDOWN_SECONDS)
                 for key in COOLDOWNS if key in data}
    return AutoscalingSettings(
        min_instances=low, max_instances=high,
        target_invocations_per_instance=_int(data, "target_invocations_per_instance", where,
                                             1, MAX_TARGET_INVOCATIONS), **cooldowns)


def _variants(data, where: str) -> tuple[Variant, ...]:
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_VARIANTS:
        _fail(where, f"expected 1 to {MAX_VARIANTS} variants")
    variants = []
    for index, item in enumerate(data):
        at = f"{where}[{index}]"
        if not isinstance(item, dict) or set(item) != {"name", "weight"}:
            _fail(at, "expected {\"name\": ..., \"weight\": ...}")
        name, weight = item["name"], item["weight"]
        if not isinstance(name, str) or len(name) > VARIANT_NAME_MAX \
                or not SAGEMAKER_NAME_RE.fullmatch(name):
            _fail(f"{at}.name", f"{json.dumps(name)} is not a SageMaker variant name")
        if name in [v.name for v in variants]:
            _fail(f"{at}.name", f"{json.dumps(name)} is named twice")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not 0 < weight <= 1000:
            _fail(f"{at}.weight", f"{json.dumps(weight)} is not a weight in (0, 1000]")
        variants.append(Variant(name, float(weight)))
    return tuple(variants)


def _string(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        _fail(f"{where}.{key}", f"expected a non-empty string, got {json.dumps(value)}")
    return value


def _placement(data: dict, where: str) -> dict:
    """The stage's account, region, role and the resources there its endpoint uses."""
    region = _string(data, "region", where)
    if not REGION_RE.fullmatch(region):
        _fail(f"{where}.region", f"{json.dumps(region)} is not an AWS region name")
    capture = _string(data, "data_capture_s3_uri", where)
    if not capture.startswith("s3://"):
        _fail(f"{where}.data_capture_s3_uri", "expected s3://bucket/prefix")
    role, external_id = data.get("role_arn"), data.get("external_id")
    if role is None:
        # The function's own account: nothing to assume.
        if external_id is not None:
            _fail(f"{where}.role_arn", "null, but external_id is set; a stage in another "
                  "account needs the deployer role there")
    else:
        if not isinstance(role, str) or not ROLE_ARN_RE.fullmatch(role):
            _fail(f"{where}.role_arn", f"{json.dumps(role)} is not an IAM role ARN")
        if not isinstance(external_id, str) or not EXTERNAL_ID_RE.fullmatch(external_id):
            _fail(f"{where}.external_id", f"{json.dumps(external_id)} is not an sts:ExternalId")
    return dict(region=region, execution_role_arn=_string(data, "execution_role_arn", where),
                kms_key_arn=_string(data, "kms_key_arn", where),
                data_capture_s3_uri=capture.rstrip("/"), role_arn=role,
                external_id=external_id)


def _stage(stage: str, data, prefix: str) -> StageSettings:
    where = f"STAGE_SETTINGS.{stage}"
    if not isinstance(data, dict):
        _fail(where, "expected an object")
    endpoint = data.get("endpoint_name")
    if not isinstance(endpoint, str) or not endpoint.startswith(f"{prefix}-") \
            or len(endpoint) > SAGEMAKER_NAME_MAX or not SAGEMAKER_NAME_RE.fullmatch(endpoint):
        _fail(f"{where}.endpoint_name", f"{json.dumps(endpoint)} must be a SageMaker name "
              f"starting with '{prefix}-'")
    instance_type = data.get("instance_type")
    if not isinstance(instance_type, str) or not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+",
                                                              instance_type):
        _fail(f"{where}.instance_type", f"{json.dumps(instance_type)} is not ml.<family>.<size>")
    alarms = data.get("alarm_names")
    # Without an alarm SageMaker cannot roll an update back on its own.
    if not isinstance(alarms, list) or not 1 <= len(alarms) <= 10 \
            or not all(isinstance(a, str) and a for a in alarms):
        _fail(f"{where}.alarm_names", "expected 1 to 10 CloudWatch alarm names")
    accept_pending = _bool(data, "accept_pending_approval", where)
    variants = _variants(data.get("variants"), f"{where}.variants")
    # Two rollback alarms per variant; AutoRollbackConfiguration takes at most 10.
    if len(alarms) < len(variants):
        _fail(f"{where}.alarm_names", f"{len(alarms)} alarm(s) for {len(variants)} variants")
    initial_count = _int(data, "initial_instance_count", where, 1, MAX_INSTANCES)
    return StageSettings(
        **_placement(data, where),
        stage=stage,
        endpoint_name=endpoint,
        instance_type=instance_type,
        initial_instance_count=initial_count,
        accept_pending_approval=accept_pending,
        deployment=_deployment(data.get("deployment"), f"{where}.deployment"),
        alarm_names=tuple(alarms),
        data_capture_percent=_int(data, "data_capture_percent", where, 0, 100),
        keep_previous=_int(data, "keep_previous", where, 0, 10),
        smoke_test=_bool(data, "smoke_test", where),
        variants=variants,
        autoscaling=_autoscaling(data.get("autoscaling"), f"{where}.autoscaling", initial_count),
    )


def parse_stage_settings(raw: str, prefix: str) -> dict:
    """STAGE_SETTINGS -> {stage: StageSettings}. infra runs this at synth on what it generates,
    so anything the function would refuse fails synth instead of a deploy."""
    try:
        raw_stages = json.loads(raw)
    except json.JSONDecodeError as exc:
        _fail("STAGE_SETTINGS", f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(raw_stages, dict) or not 1 <= len(raw_stages) <= MAX_STAGES:
        _fail("STAGE_SETTINGS", f"expected an object keyed by stage (1 to {MAX_STAGES})")
    for name in raw_stages:
        if len(name) > STAGE_NAME_MAX or not re.fullmatch(STAGE_NAME, name):
            _fail(f"STAGE_SETTINGS.{name}", f"not a stage name ({STAGE_NAME}, at most "
                  f"{STAGE_NAME_MAX} characters)")
    return {name: _stage(name, data, prefix) for name, data in raw_stages.items()}


def dump_stage_settings(stages) -> str:
    """{stage: StageSettings} -> the STAGE_SETTINGS value (infra writes it with this)."""
    document = {}
    for name, settings in stages.items():
        fields = asdict(settings)
        if fields.pop("stage") != name:
            raise ValueError(f"STAGE_SETTINGS.{name}: holds the settings of stage "
                             f"{settings.stage!r}")
        document[name] = fields
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def load_settings(environ=None) -> Settings:
    environ = os.environ if environ is None else environ
    missing = [name for name in REQUIRED_ENV if not environ.get(name)]
    if missing:
        _fail(", ".join(missing), "not set")
    prefix = environ["RESOURCE_PREFIX"]
    if prefix != f"{environ['PROJECT_NAME']}-{environ['ENVIRONMENT']}":
        _fail("RESOURCE_PREFIX", f"{prefix!r} is not PROJECT_NAME-ENVIRONMENT")
    stages = parse_stage_settings(environ["STAGE_SETTINGS"], prefix)
    smoke_csv = environ.get("SMOKE_TEST_CSV", "")
    if any(s.smoke_test for s in stages.values()) and not smoke_csv.strip():
        _fail("SMOKE_TEST_CSV", "empty, but a stage has smoke_test enabled")
    return Settings(
        project=environ["PROJECT_NAME"],
        environment=environ["ENVIRONMENT"],
        prefix=prefix,
        model_package_group=environ["MODEL_PACKAGE_GROUP"],
        smoke_test_csv=smoke_csv,
        stages=stages,
    )


def parse_user_parameters(raw, settings: Settings) -> StageSettings:
    """UserParameters is {"stage": <a stage of STAGE_SETTINGS>}; anything else is a pipeline
    definition bug."""
    where = "action UserParameters"
    try:
        params = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError as exc:
        raise ConfigurationFailure(f"{where}: not valid JSON ({exc.msg}); expected "
                                   '{"stage": "<stage>"}') from None
    if not isinstance(params, dict) or set(params) != {"stage"}:
        raise ConfigurationFailure(f'{where}: expected {{"stage": "<stage>"}}, one of '
                                   f"{', '.join(settings.stages)}")
    stage = params["stage"]
    if stage not in settings.stages:
        raise ConfigurationFailure(
            f"{where}: stage {json.dumps(stage)} has no entry in STAGE_SETTINGS; "
            f"configured: {', '.join(sorted(settings.stages))}")
    return settings.stages[stage]
