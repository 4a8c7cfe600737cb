"""The deploy function's settings contract, declared once and owned by the function.

STAGE_SETTINGS (one StageSettings per stage) is written by infra/deploy_function.py from these
models, and infra validates its configuration's endpoint sections with them
(DeploymentSettings, AutoscalingSettings, Variant), so a value the function would refuse fails
synth. The function reads its environment with pydantic-settings (lambda_deploy/environment.py);
anything broken fails the job as one ConfigurationError line naming the variable and the key,
before anything is created. The models are strict (no "1" for 1), closed and frozen.
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from aws_clients import SAGEMAKER_NAME, SAGEMAKER_NAME_MAX
from lambda_deploy.errors import ConfigurationFailure

STRATEGIES = ("all_at_once", "canary", "linear")
SAGEMAKER_NAME_RE = re.compile(f"^{SAGEMAKER_NAME}$")
# Stages are data (config/<env>.json "stages"); a stage name is part of its endpoint's name.
STAGE_NAME = r"[a-z][a-z0-9]*"
STAGE_NAME_MAX = 16
MAX_STAGES = 10
# Each variant has two rollback alarms; AutoRollbackConfiguration takes at most 10.
MAX_VARIANTS = 5
VARIANT_NAME_MAX = 63
DEFAULT_VARIANT = "AllTraffic"
# Application Auto Scaling accepts any capacity; this bounds what one variant may cost.
MAX_INSTANCES = 100
# SageMakerVariantInvocationsPerInstance is invocations per instance per minute.
MAX_TARGET_INVOCATIONS = 1_000_000
MAX_COOLDOWN_SECONDS = 3600
ROLE_ARN = r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}"
ROLE_ARN_RE = re.compile(ROLE_ARN)
REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d"
INSTANCE_TYPE = r"ml\.[a-z0-9]+\.[a-z0-9]+"
# sts:ExternalId: 2-1224 characters of [\w+=,.@:/-].
EXTERNAL_ID = r"[\w+=,.@:/-]{2,1224}"


def rule(setting: str, message: str) -> PydanticCustomError:
    """A cross-field rule's error, reported at `setting` (relative to the model that checks it);
    infra's configuration errors use the same convention (infra/config.py format_error)."""
    return PydanticCustomError("rule", "{message}", {"message": message, "setting": setting})


def matches(pattern: str, explanation: str) -> AfterValidator:
    """A string format check whose error names the value and the expected format."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("format", "{given} {explanation}",
                                      {"given": repr(value), "explanation": explanation})
        return value

    return AfterValidator(check)


def pattern_schema(pattern: str) -> dict:
    return {"json_schema_extra": {"pattern": f"^{pattern}$"}}


SageMakerName = Annotated[str, Field(max_length=SAGEMAKER_NAME_MAX, **pattern_schema(SAGEMAKER_NAME)),
                          matches(SAGEMAKER_NAME, "is not a SageMaker name (letters, digits, "
                                  "single hyphens inside)")]
InstanceType = Annotated[str, Field(**pattern_schema(INSTANCE_TYPE)),
                         matches(INSTANCE_TYPE, "is not a SageMaker instance type; expected "
                                 "ml.<family>.<size>, e.g. ml.m5.large")]
StageName = Annotated[str, Field(max_length=STAGE_NAME_MAX, **pattern_schema(STAGE_NAME)),
                      matches(STAGE_NAME, f"is not a stage name: 1-{STAGE_NAME_MAX} lowercase "
                              "letters or digits, starting with a letter")]
Region = Annotated[str, Field(**pattern_schema(REGION)),
                   matches(REGION, "is not an AWS region name, e.g. eu-west-1")]


class Contract(BaseModel):
    """Base of every model of the contract: strict, closed, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DeploymentSettings(Contract):
    """Blue/green traffic shifting for UpdateEndpoint, within the limits SageMaker accepts."""

    strategy: Literal["all_at_once", "canary", "linear"] = Field(
        "all_at_once", description="blue/green traffic shifting")
    # SageMaker: canary size at most 50 % of the fleet; linear step 10-50 %.
    canary_percent: int = Field(10, ge=1, le=50, description="canary share of capacity")
    linear_step_percent: int = Field(20, ge=10, le=50, description="linear step size")
    wait_seconds: int = Field(300, ge=0, le=3600, description="wait between traffic shifts")
    termination_wait_seconds: int = Field(300, ge=0, le=3600,
                                          description="old fleet kept after the shift")
    max_execution_timeout_seconds: int = Field(3600, ge=600, le=28800,
                                               description="limit for the whole update")


class AutoscalingSettings(Contract):
    """Application Auto Scaling target tracking on SageMakerVariantInvocationsPerInstance."""

    min_instances: int = Field(ge=1, le=MAX_INSTANCES,
                               description="fewest instances the endpoint keeps")
    max_instances: int = Field(ge=1, le=MAX_INSTANCES,
                               description="most instances it scales out to")
    target_invocations_per_instance: int = Field(
        ge=1, le=MAX_TARGET_INVOCATIONS,
        description="invocations per instance per minute the policy keeps the fleet at")
    # Scale out quickly on load; scale in slowly so a short lull does not drop capacity.
    scale_out_cooldown_seconds: int = Field(
        60, ge=0, le=MAX_COOLDOWN_SECONDS,
        description="seconds after a scale-out before the policy may scale out again")
    scale_in_cooldown_seconds: int = Field(
        300, ge=0, le=MAX_COOLDOWN_SECONDS,
        description="seconds after a scale-in before the policy may scale in again")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min_instances > self.max_instances:
            raise rule("max_instances", f"{self.max_instances} is below min_instances "
                       f"{self.min_instances}")
        return self


class Variant(Contract):
    """One production variant of a stage's endpoint; it serves the deployed model."""

    name: Annotated[str, Field(max_length=VARIANT_NAME_MAX, **pattern_schema(SAGEMAKER_NAME)),
                    matches(SAGEMAKER_NAME, "is not a SageMaker variant name (letters, digits, "
                            "single hyphens inside)")] = Field(description="variant name")
    # SageMaker sends each variant weight / sum of weights of the traffic.
    weight: float = Field(1.0, gt=0, le=1000, description="relative share of the traffic")


def unique_variants(variants) -> None:
    names = [v.name for v in variants]
    for index, variant in enumerate(names):
        if variant in names[:index]:
            raise rule(f"variants.{index}.name", f"{variant!r} is named twice")


Variants = Annotated[list[Variant], Field(min_length=1, max_length=MAX_VARIANTS)]


def experiment_fits(variants, experiment, where: str) -> None:
    """ShadowProductionVariants allows one production variant beside the shadow one."""
    if len(variants) != 1:
        raise rule(where, f"a stage with an experiment serves one production variant (the "
                   f"champion) beside the shadow one; it has {len(variants)}")
    if experiment.challenger_variant == variants[0].name:
        raise rule(f"{where}.challenger_variant", f"{experiment.challenger_variant!r} is the "
                   "champion's variant name")


class ExperimentSettings(Contract):
    """Champion vs challenger in production, as far as the deploy function reads it (a stage's
    `experiment` section; absent: a new model replaces the champion as before). The challenger
    runs as the endpoint config's shadow variant; the monitor job writes the verdict
    (pipeline_src/verdict.py, its rule declared by the job: pipeline_src/jobs/monitor_settings.py
    ExperimentRule, which infra/config.py's section adds to this), and the controller ends the
    experiment on it, or at max_days without one."""

    challenger_variant: Annotated[str, Field(max_length=VARIANT_NAME_MAX,
                                             **pattern_schema(SAGEMAKER_NAME)),
                                  matches(SAGEMAKER_NAME, "is not a SageMaker variant name")] = \
        Field("Challenger", description="name of the shadow variant the challenger serves as "
                                        "(stable across releases)")
    # The verdict's own maximum duration too (ExperimentRule.max_days: one setting of the config,
    # test_seams checks both declarations agree): with no final verdict by then, the controller
    # keeps the champion.
    max_days: int = Field(60, ge=2, le=730, description="longest an experiment runs; no verdict "
                          "by then keeps the champion")
    # The optional live phase after a shadow win (lambda_deploy/experiment.py): the challenger
    # serves this share of the requests as a second production variant until the live verdict.
    live_share: float = Field(0.0, ge=0, le=0.5, description="after a shadow win, the share of "
                              "live requests the challenger serves until the live (unpaired) "
                              "verdict; 0: no live phase, a shadow win promotes")


# Secondary regions a stage may serve from besides its primary (the registry's region).
MAX_SECONDARY_REGIONS = 4
ECR_REPOSITORY = r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+"


class VpcPlacement(Contract):
    """CreateModel's VpcConfig: the private subnets and security groups a stage's models run in
    (in their region, in the stage's account). Like execution_role_arn, the IDs are Terraform
    references when infra writes them (the tooling VPC's subnets and serving security group); a
    stage's own IDs are checked in infra/config.py (stages[].network)."""

    subnets: Annotated[list[Annotated[str, Field(min_length=1)]],
                       Field(min_length=1, max_length=16)]
    security_group_ids: Annotated[list[Annotated[str, Field(min_length=1)]],
                                  Field(min_length=1, max_length=5)]

    def request(self) -> dict:
        return {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_group_ids)}


class RegionPlacement(Contract):
    """Where a stage's endpoint serves in one of its secondary regions. A model package is
    usable only in its registry's region (SageMaker API, ContainerDefinition: the image and the
    model artifact must be in the model's region), so a secondary region's model is built from
    the package's container with this region's scikit-learn image and a copy of the artifact
    the deploy step makes in this region's bucket (lambda_deploy/regions.py)."""

    region: Region
    kms_key_arn: str = Field(min_length=1)
    data_capture_s3_uri: Annotated[str, matches(r"s3://[^/]+(/.*)?", "is not s3://bucket/prefix"),
                                   AfterValidator(lambda uri: uri.rstrip("/"))]
    # Where the deploy step copies the package's model artifact to (s3://bucket/prefix).
    model_s3_uri: Annotated[str, matches(r"s3://[^/]+/.+", "is not s3://bucket/prefix"),
                            AfterValidator(lambda uri: uri.rstrip("/"))]
    # The region's scikit-learn image repository (registry/name, no tag): the package's image
    # tag is kept, its registry and region replaced.
    image_repository: Annotated[str, matches(ECR_REPOSITORY, "is not an ECR repository "
                                             "(<account>.dkr.ecr.<region>.amazonaws.com/<name>)")]
    alarm_names: Annotated[list[Annotated[str, Field(min_length=1)]],
                           Field(min_length=1, max_length=10)]
    # The models' subnets there; None: no VPC.
    vpc_config: Optional[VpcPlacement] = None


class StageSettings(Contract):
    """One stage as the deploy step needs it: its endpoint and where it lives."""

    stage: StageName
    endpoint_name: SageMakerName
    instance_type: InstanceType
    initial_instance_count: int = Field(ge=1, le=MAX_INSTANCES)
    accept_pending_approval: bool
    deployment: DeploymentSettings
    # Without an alarm SageMaker cannot roll an update back on its own.
    alarm_names: Annotated[list[Annotated[str, Field(min_length=1)]],
                           Field(min_length=1, max_length=10)]
    data_capture_percent: int = Field(ge=0, le=100)
    keep_previous: int = Field(ge=0, le=10)
    smoke_test: bool
    # Where the endpoint lives and what it runs as, in the stage's account.
    region: Region
    execution_role_arn: str = Field(min_length=1)
    kms_key_arn: str = Field(min_length=1)
    data_capture_s3_uri: Annotated[str, matches(r"s3://[^/]+(/.*)?", "is not s3://bucket/prefix"),
                                   AfterValidator(lambda uri: uri.rstrip("/"))]
    variants: Variants = Field(default_factory=lambda: [Variant(name=DEFAULT_VARIANT)])
    autoscaling: Optional[AutoscalingSettings] = None
    # A stage in another account: the deployer role there (its ARN names the account) that
    # every call of the stage is made with (AssumeRole with external_id). None: the function's
    # own account.
    role_arn: Optional[Annotated[str, matches(ROLE_ARN, "is not an IAM role ARN")]] = None
    external_id: Optional[Annotated[str, matches(EXTERNAL_ID, "is not an sts:ExternalId")]] = None
    # Champion vs challenger (lambda_deploy/experiment.py); None: a new model replaces the old.
    experiment: Optional[ExperimentSettings] = None
    # The challenger variant's rollback alarms in the live phase, one per alarm of the
    # champion's variant (alarm_names[:2], same metrics), which the function creates from them.
    live_alarm_names: Annotated[list[Annotated[str, Field(min_length=1)]],
                                Field(max_length=2)] = Field(default_factory=list)
    # CreateModel's VpcConfig in the primary region; None: the model runs in no VPC.
    vpc_config: Optional[VpcPlacement] = None
    # The same endpoint in other regions, deployed after the primary (`region`) in this order.
    secondary_regions: Annotated[list[RegionPlacement],
                                 Field(max_length=MAX_SECONDARY_REGIONS)] = Field(
        default_factory=list)

    @model_validator(mode="after")
    def _consistent(self):
        unique_variants(self.variants)
        if self.secondary_regions and self.experiment is not None:
            # lambda_deploy/regions.py deploys one model per region; an experiment's shadow
            # variant and its promotion are one region's (lambda_deploy/experiment.py).
            raise rule("secondary_regions", "a stage with an experiment serves from one region")
        seen = [self.region]
        for index, placement in enumerate(self.secondary_regions):
            if placement.region in seen:
                raise rule(f"secondary_regions.{index}.region",
                           f"{placement.region!r} is the primary region or listed twice")
            seen.append(placement.region)
            if len(placement.alarm_names) < len(self.variants):
                raise rule(f"secondary_regions.{index}.alarm_names",
                           f"{len(placement.alarm_names)} alarm(s) for {len(self.variants)} "
                           "variants")
        # Two rollback alarms per variant; AutoRollbackConfiguration takes at most 10.
        if len(self.alarm_names) < len(self.variants):
            raise rule("alarm_names", f"{len(self.alarm_names)} alarm(s) for "
                       f"{len(self.variants)} variants")
        scaling = self.autoscaling
        if scaling and not scaling.min_instances <= self.initial_instance_count \
                <= scaling.max_instances:
            raise rule("autoscaling", f"initial_instance_count {self.initial_instance_count} is "
                       f"outside min_instances..max_instances ({scaling.min_instances}.."
                       f"{scaling.max_instances})")
        if self.experiment is not None:
            experiment_fits(self.variants, self.experiment, "experiment")
        if self.experiment is not None and self.experiment.live_share > 0 and \
                len(self.live_alarm_names) != 2:
            raise rule("live_alarm_names", "a stage with a live phase names the challenger "
                       "variant's two rollback alarms")
        if (self.role_arn is None) != (self.external_id is None):
            raise rule("role_arn", "a stage in another account needs both the deployer role "
                       "there and the external_id; a stage in the function's account neither")
        return self

    @property
    def account_id(self) -> str | None:
        return ROLE_ARN_RE.fullmatch(self.role_arn).group(1) if self.role_arn else None

    @property
    def regions(self) -> list[str]:
        """Every region the stage serves from, primary first (the deploy order)."""
        return [self.region, *(p.region for p in self.secondary_regions)]

    def placement(self, region: str) -> RegionPlacement | None:
        """The secondary placement of `region`; None for the primary."""
        if region == self.region:
            return None
        for placement in self.secondary_regions:
            if placement.region == region:
                return placement
        raise ValueError(f"stage {self.stage} does not serve from {region}")

    def in_region(self, region: str) -> "StageSettings":
        """These settings as seen by the calls about one region's endpoint: the same endpoint
        name, variants and guardrails, that region's key, capture and rollback alarms."""
        placement = self.placement(region)
        if placement is None:
            return self
        return self.model_copy(update={
            "region": placement.region, "kms_key_arn": placement.kms_key_arn,
            "data_capture_s3_uri": placement.data_capture_s3_uri,
            "alarm_names": list(placement.alarm_names), "vpc_config": placement.vpc_config,
            "secondary_regions": []})


class Settings(Contract):
    project: str
    environment: str
    prefix: str
    model_package_group: str
    smoke_test_csv: str
    stages: dict[str, StageSettings]


def dump_stage_settings(stages) -> str:
    """{stage: StageSettings} -> the STAGE_SETTINGS value (infra writes it with this)."""
    document = {}
    for name, settings in stages.items():
        if settings.stage != name:
            raise ValueError(f"STAGE_SETTINGS.{name}: holds the settings of stage "
                             f"{settings.stage!r}")
        # A stage without an experiment, or serving from one region, keeps the value it had
        # before those existed.
        omit = {"stage"} | ({"experiment"} if settings.experiment is None else set()) | (
            set() if settings.secondary_regions else {"secondary_regions"}) | (
            {"vpc_config"} if settings.vpc_config is None else set()) | (
            set() if settings.live_alarm_names else {"live_alarm_names"})
        document[name] = settings.model_dump(exclude=omit)
        # A placement without a VPC keeps the value it had before VPCs existed.
        for region in document[name].get("secondary_regions", []):
            if region["vpc_config"] is None:
                del region["vpc_config"]
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
             "string_type": "a string", "dict_type": "an object", "model_type": "an object",
             "list_type": "a list"}
_BOUNDS = {"greater_than_equal": ("ge", "below the minimum"),
           "greater_than": ("gt", "not above"),
           "less_than_equal": ("le", "above the maximum"), "less_than": ("lt", "not below")}


def _field_at(model, loc: tuple):
    """The pydantic field a location names in `model` (Optional, list and dict unwrapped)."""
    from typing import get_args

    info = None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = None
        candidates = list(get_args(info.annotation)) or [info.annotation]
        while candidates:
            candidate = candidates.pop()
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
            candidates.extend(get_args(candidate))
    return info


def _range(model, loc: tuple) -> tuple:
    low = high = None
    for meta in getattr(_field_at(model, loc), "metadata", ()):
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return low, high


def one_line(error: dict, model=None) -> tuple[tuple, str]:
    """(setting path, message) of one pydantic error of `model`, in the words this project's
    errors use."""
    kind, loc, given = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    shown = json.dumps(given) if isinstance(given, (str, int, float, bool, type(None))) \
        else type(given).__name__
    if kind == "rule":
        return loc + tuple(p for p in str(ctx.get("setting", "")).split(".") if p), \
            ctx["message"]
    if kind == "format":
        return loc, error["msg"]
    if kind == "extra_forbidden":
        return loc, "unknown setting"
    if kind == "missing":
        return loc, "not set"
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}, got {shown}"
    if kind in _BOUNDS:
        low, high = _range(model, loc)
        if low is not None and high is not None:
            return loc, f"{shown} is outside {low}..{high}"
        key, words = _BOUNDS[kind]
        return loc, f"{shown} is {words} {ctx.get(key)}"
    if kind == "literal_error":
        return loc, f"{shown}; allowed: {ctx.get('expected')}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return loc, "not set"
    if kind in ("too_short", "too_long"):
        most = "least" if kind == "too_short" else "most"
        return loc, f"expected at {most} {ctx.get('min_length', ctx.get('max_length'))} " \
                    f"entries, got {ctx.get('actual_length')}"
    if kind in ("string_too_short", "string_too_long"):
        return loc, f"{shown}: {error['msg'][0].lower()}{error['msg'][1:]}"
    return loc, f"{shown}: {error['msg']}"


def _fail(where: str, message: str):
    raise ConfigurationFailure(f"deploy function environment: {where}: {message}")


def fail_validation(exc, where: str, model=None):
    """A pydantic ValidationError (of `model`) as the one ConfigurationFailure line."""
    errors = exc.errors(include_url=False)
    loc, message = one_line(errors[0], model)
    path = ".".join(p for p in [where, *(str(p) for p in loc)] if p)
    _fail(path, " ".join(str(message).split()))


def parse_stage_settings(raw: str, prefix: str) -> dict:
    """STAGE_SETTINGS -> {stage: StageSettings}. infra runs this at synth on what it generates,
    so anything the function would refuse fails synth."""
    from pydantic import ValidationError

    try:
        raw_stages = json.loads(raw)
    except json.JSONDecodeError as exc:
        _fail("STAGE_SETTINGS", f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(raw_stages, dict) or not 1 <= len(raw_stages) <= MAX_STAGES:
        _fail("STAGE_SETTINGS", f"expected an object keyed by stage (1 to {MAX_STAGES})")
    stages = {}
    for name, data in raw_stages.items():
        where = f"STAGE_SETTINGS.{name}"
        if not isinstance(data, dict):
            _fail(where, "expected an object")
        if "stage" in data:
            _fail(f"{where}.stage", "unknown setting (the key names the stage)")
        try:
            stage = StageSettings.model_validate({**data, "stage": name})
        except ValidationError as exc:
            fail_validation(exc, where, StageSettings)
        if not stage.endpoint_name.startswith(f"{prefix}-"):
            _fail(f"{where}.endpoint_name", f"{json.dumps(stage.endpoint_name)} must start "
                  f"with '{prefix}-'")
        stages[name] = stage
    return stages


def load_settings(environ=None) -> Settings:
    """The function's environment (os.environ, or the mapping given), read with
    pydantic-settings (lambda_deploy/environment.py, imported here: infra needs only the models)."""
    from lambda_deploy.environment import read

    return read(environ)


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
