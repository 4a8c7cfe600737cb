"""The monitor job's settings: one contract, declared here by the job that reads them.

- MonitorAnalysis: the configuration's `monitoring` values the job uses (the window, the drift
  share, the row cap, the labelled-positives minimum). infra/config.py's MonitoringConfig is this
  model plus the retraining switches, so config/<env>.json is validated by these declarations.
- MonitorSettings: what the verdict (pipeline_src/monitoring.py analyse) depends on: those values
  and the quality gate's thresholds.
- ExperimentRule: a stage's champion vs challenger rule (config/<env>.json `stages[].experiment`
  less what only the deploy function reads): the verdict (pipeline_src/verdict.py) applies it.
  infra/config.py's experiment section is this model plus lambda_deploy's ExperimentSettings.
- MonitorJobSettings: everything the job reads from its environment, each field's alias the
  variable's name. infra/monitoring.py builds one and writes environment() into the CodeBuild
  project; the job reads it back with pydantic-settings (read_environment), so a variable renamed
  or retyped on one side fails on the other's tests.

pydantic only at import (synth imports this module); pydantic-settings only when the job reads
its environment (envs/monitor-py312 pins it).
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Mapping, Optional, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PlainSerializer, StringConstraints, ValidationError, model_validator)
from pydantic_core import PydanticCustomError

from pipeline_src.evaluate import GATE_THRESHOLDS_ENV, GateThresholds


class Contract(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class MonitorAnalysis(Contract):
    """How the job analyses each window (config/<env>.json `monitoring`)."""

    schedule_hours: int = Field(24, ge=1, le=24, description=(
        "the monitor runs every N hours per captured endpoint, over the last N whole hours "
        "(at most 24: an alarm evaluates at most one day)"))
    # Drift: the share of contract features whose test fires at or above which the window is
    # drifted; a drifted predicted probability alone also counts. 0.15 (3 of 20 features):
    # on 500-row windows sampling noise alone pushes about one feature in 40 past Evidently's
    # 0.1 distance threshold, so "any one feature" alarmed on half of the clean windows
    # (bench/bench_monitor.py measures each choice).
    drift_share: float = Field(0.15, ge=0.01, le=1, description=(
        "share of contract features drifting that makes a window drifted (0.15: 3 of 20); "
        "a drifted predicted probability alone also does"))
    row_cap: int = Field(200_000, ge=1000, le=10_000_000,
                         description="captured rows analysed; beyond it a seeded sample")
    # Fewer labelled positives than this: quality is reported but not judged.
    min_labelled_positives: int = Field(5, ge=1, le=100000, description=(
        "labelled frauds a window needs before quality is judged"))


class ExperimentRule(Contract):
    """How the verdict judges a stage's experiment (pipeline_src/verdict.py): the business cost,
    the confidence sequence's error rate and tuning, the margin, the label horizon and the
    maximum duration. Declared here, by the job that computes the verdict; infra writes each
    experiment stage's rule into the job's environment (MONITOR_EXPERIMENTS)."""

    alpha: float = Field(0.05, ge=0.001, le=0.2, description="error rate of the confidence "
                         "sequence: the chance of ever promoting a challenger that is not cheaper")
    # A number, or the name of a numeric contract column (the transaction's amount).
    missed_fraud_cost: Union[Annotated[float, Field(ge=0, le=1e9)],
                             Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        "amount", description="cost of a fraud the model let through: a number, or a numeric "
                              "contract column (e.g. amount)")
    false_alarm_cost: float = Field(5.0, ge=0, le=1e9, description="cost of flagging a "
                                    "legitimate transaction (e.g. a manual review)")
    margin: float = Field(0.0, ge=0, le=1e9, description="cost per transaction below which a "
                          "saving is not worth a switch: reject once the challenger cannot save "
                          "more than this")
    label_horizon_days: int = Field(14, ge=1, le=365, description="days until a transaction's "
                                    "label is expected; younger transactions do not count")
    max_days: int = Field(60, ge=2, le=730, description="longest an experiment runs; no verdict "
                          "by then keeps the champion")
    min_labelled_frauds: int = Field(30, ge=1, le=1_000_000, description="labelled frauds "
                                     "(paired) before any verdict")
    planned_labelled_rows: int = Field(100_000, ge=100, le=10**9, description="labelled paired "
                                       "transactions the confidence sequence is tightest at")

    @model_validator(mode="after")
    def _horizon(self):
        if self.label_horizon_days >= self.max_days:
            # Reported at the setting, as infra/config.py's rule() errors are.
            raise PydanticCustomError("rule", "{message}", {
                "setting": "max_days", "message": f"{self.max_days} is not above "
                f"label_horizon_days {self.label_horizon_days}: no transaction would ever count"})
        return self


def _gate(value):
    """GATE_THRESHOLDS arrives as GateThresholds.to_json()'s text."""
    if isinstance(value, str):
        try:
            return GateThresholds.from_json(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return value


Gate = Annotated[GateThresholds, BeforeValidator(_gate),
                 PlainSerializer(lambda gate: gate.to_json(), return_type=str)]


class MonitorSettings(MonitorAnalysis):
    """What the verdict depends on: the analysis values and the quality gate's minima."""

    gate: Gate = Field(default_factory=GateThresholds)

    @classmethod
    def of(cls, analysis: MonitorAnalysis, gate: GateThresholds) -> "MonitorSettings":
        return cls(**{name: getattr(analysis, name) for name in MonitorAnalysis.model_fields},
                   gate=gate)


# An IAM role ARN (the stage account's monitor reader).
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def _endpoints(value):
    """MONITOR_ENDPOINTS is comma-separated text."""
    if isinstance(value, str):
        return tuple(e.strip() for e in value.split(",") if e.strip())
    return value


def _json_object_text(value):
    """A variable holding a JSON object as text: parsed; unset or empty is {}."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON: {exc.msg}") from None
    return value


def _readers(value):
    """MONITOR_READERS is JSON text: {endpoint: reader role ARN}."""
    value = _json_object_text(value)
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and ROLE_ARN.fullmatch(v)
            for k, v in value.items()):
        raise ValueError("must be a JSON object of endpoint name -> IAM role ARN")
    return value


# An AWS region name (eu-central-1).
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def _regions(value):
    """MONITOR_REGIONS is JSON text: {endpoint: [secondary region, ...]}."""
    value = _json_object_text(value)
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) and v
            and all(isinstance(r, str) and REGION_NAME.fullmatch(r) for r in v)
            for k, v in value.items()):
        raise ValueError("must be a JSON object of endpoint name -> list of AWS region names")
    return {k: tuple(v) for k, v in value.items()}


def _experiments(value):
    """MONITOR_EXPERIMENTS is JSON text: {endpoint: ExperimentRule}."""
    value = _json_object_text(value)
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object of endpoint name -> experiment rule")
    return value


def _dump_experiments(experiments) -> str:
    return json.dumps({endpoint: rule.model_dump(mode="json")
                       for endpoint, rule in experiments.items()},
                      sort_keys=True, separators=(",", ":"))


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Endpoints = Annotated[tuple[Text, ...], BeforeValidator(_endpoints), Field(min_length=1),
                      PlainSerializer(",".join, return_type=str)]
Readers = Annotated[dict[str, str], BeforeValidator(_readers),
                    PlainSerializer(lambda r: json.dumps(r, sort_keys=True), return_type=str)]
Regions = Annotated[dict[str, tuple[str, ...]], BeforeValidator(_regions),
                    PlainSerializer(lambda r: json.dumps({k: list(v) for k, v in r.items()},
                                                         sort_keys=True), return_type=str)]
Experiments = Annotated[dict[str, ExperimentRule], BeforeValidator(_experiments),
                        PlainSerializer(_dump_experiments, return_type=str)]

# Field -> the environment variable it is read from (and infra writes).
VARIABLES = {
    "endpoints": "MONITOR_ENDPOINTS",
    "schedule_hours": "MONITOR_WINDOW_HOURS",
    "drift_share": "MONITOR_DRIFT_SHARE",
    "row_cap": "MONITOR_ROW_CAP",
    "min_labelled_positives": "MONITOR_MIN_LABELLED_POSITIVES",
    "gate": GATE_THRESHOLDS_ENV,
    "metric_namespace": "METRIC_NAMESPACE",
    "output_uri": "MONITORING_OUTPUT_S3_URI",
    "ground_truth_uri": "GROUND_TRUTH_S3_URI",
    "data_uri": "DATA_S3_URI",
    "model_package_group": "MODEL_PACKAGE_GROUP",
    "kms_key_arn": "KMS_KEY_ARN",
    "readers": "MONITOR_READERS",
    "external_id": "MONITOR_EXTERNAL_ID",
    "regions": "MONITOR_REGIONS",
    "experiments": "MONITOR_EXPERIMENTS",
    # The deploy function's experiment state (lambda_deploy/experiment.py ENV_VAR, same name).
    "experiments_uri": "EXPERIMENTS_S3_URI",
    # Set by CodeBuild, not by infra.
    "region": "AWS_REGION",
    "run_id": "CODEBUILD_BUILD_NUMBER",
}


def _variable(field: str) -> str:
    # Fields of nested types (the gate's) keep their names.
    return VARIABLES.get(field, field)


# What CodeBuild sets itself: never written by infra.
CODEBUILD_SETS = ("region", "run_id")
# What the job cannot run without (the rest: readers only with endpoints in other accounts,
# regions only for stages serving from secondary regions, experiments only for stages that run
# one).
OPTIONAL = ("readers", "external_id", "run_id", "experiments", "experiments_uri", "regions")


class MonitorJobSettings(MonitorSettings):
    """The monitor job's environment. Values written by Terraform may be references resolved at
    apply time (a key ARN, a bucket), so only their presence is checked here."""

    # Lax: environment values are text ("24"); infra passes Python values.
    model_config = ConfigDict(strict=False, extra="forbid", frozen=True, populate_by_name=True,
                              alias_generator=_variable)

    endpoints: Endpoints
    gate: Gate
    metric_namespace: Text
    output_uri: Text
    ground_truth_uri: Text
    data_uri: Text
    model_package_group: Text
    kms_key_arn: Text
    # Endpoints read in another account as its monitor reader role, and the ExternalId the
    # readers' trust requires (infra/monitoring.py MonitorReader).
    readers: Readers = Field(default_factory=dict)
    external_id: Annotated[str, AfterValidator(str.strip)] = ""
    # Endpoints that also serve from secondary regions (config `stages[].secondary_regions`):
    # each region's endpoint and capture are read there, as the endpoint's reader (a stage with
    # secondary regions is in its own account), and reported with that region's name.
    regions: Regions = Field(default_factory=dict)
    # Endpoints running champion vs challenger: the job writes each running experiment's verdict
    # under EXPERIMENTS_S3_URI/<endpoint>/<experiment id>/ (lambda_deploy/experiment.py).
    experiments: Experiments = Field(default_factory=dict)
    experiments_uri: Annotated[str, AfterValidator(str.strip)] = ""
    region: Optional[Text] = None
    # CloudTrail in a stage account shows which build read as its reader role.
    run_id: Annotated[str, AfterValidator(str.strip)] = ""

    @model_validator(mode="after")
    def _readers_are_monitored(self):
        unknown = sorted(set(self.readers) - set(self.endpoints))
        if unknown:
            raise ValueError(f"MONITOR_READERS names endpoint(s) not in MONITOR_ENDPOINTS: "
                             f"{', '.join(unknown)}")
        if self.readers and not self.external_id:
            raise ValueError("missing environment setting(s): MONITOR_EXTERNAL_ID (with "
                             "MONITOR_READERS)")
        unread = sorted(set(self.regions) - set(self.readers))
        if unread:
            raise ValueError(f"MONITOR_REGIONS names endpoint(s) without a reader role in "
                             f"MONITOR_READERS: {', '.join(unread)} (secondary regions are read "
                             "as the stage account's monitor reader)")
        for endpoint, regions in self.regions.items():
            if self.region in regions or len(set(regions)) != len(regions):
                raise ValueError(f"MONITOR_REGIONS {endpoint}: {', '.join(regions)} must be "
                                 f"distinct secondary regions (not the job's {self.region})")
        unknown = sorted(set(self.experiments) - set(self.endpoints))
        if unknown:
            raise ValueError(f"MONITOR_EXPERIMENTS names endpoint(s) not in MONITOR_ENDPOINTS: "
                             f"{', '.join(unknown)}")
        if self.experiments and not self.experiments_uri.startswith("s3://"):
            raise ValueError("missing environment setting(s): EXPERIMENTS_S3_URI (s3://bucket/"
                             "prefix, with MONITOR_EXPERIMENTS)")
        return self

    def environment(self) -> dict[str, str]:
        """The variables infra writes into the CodeBuild project (not what CodeBuild sets)."""
        data = self.model_dump(mode="json", by_alias=True, exclude=set(CODEBUILD_SETS))
        if not self.readers:
            data.pop(VARIABLES["readers"])
            data.pop(VARIABLES["external_id"])
        if not self.regions:
            data.pop(VARIABLES["regions"])
        if not self.experiments:
            data.pop(VARIABLES["experiments"])
            data.pop(VARIABLES["experiments_uri"])
        return {name: str(value) for name, value in data.items()}


class SettingsInvalid(ValueError):
    """str() is one line naming the environment variable and the problem."""


def _one_line(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    message = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    if not error["loc"]:
        return message
    name = str(error["loc"][0])
    variable = VARIABLES.get(name, name)
    if error["type"] == "value_error" and variable in (VARIABLES["readers"],
                                                       VARIABLES["experiments"],
                                                       VARIABLES["regions"]):
        return f"{variable} {message}"
    if variable == VARIABLES["experiments"] and len(error["loc"]) > 1:
        # A rule's own setting: MONITOR_EXPERIMENTS <endpoint>.<setting>: the problem.
        where = ".".join(str(part) for part in error["loc"][1:])
        setting = (error.get("ctx") or {}).get("setting")
        where = f"{where}.{setting}" if setting else where
        return f"environment setting {variable} {where}: {message}"
    value = error.get("input")
    shown = f"={value!r}" if isinstance(value, str) else ""
    return f"environment setting {variable}{shown}: {message}"


def read_environment(environ: Optional[Mapping[str, str]] = None) -> MonitorJobSettings:
    """The job's settings from its environment (os.environ unless given), with
    pydantic-settings; SettingsInvalid (one line) when one is missing or wrong."""
    import os

    from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
    from pydantic_settings import SettingsError as SourceError

    mapping = os.environ if environ is None else environ
    missing = [variable for field, variable in VARIABLES.items()
               if field not in OPTIONAL and not str(mapping.get(variable) or "").strip()]
    if missing:
        raise SettingsInvalid(f"missing environment setting(s): {', '.join(missing)}")

    class _Source(EnvSettingsSource):
        def _load_env_vars(self):
            return {k: v for k, v in mapping.items() if v is not None}

    class _Environment(BaseSettings, MonitorJobSettings):
        # Values are parsed by the contract's own validators (comma lists, JSON), not decoded
        # as JSON by pydantic-settings first.
        model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True,
                                          populate_by_name=True, enable_decoding=False,
                                          alias_generator=_variable)

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            return (_Source(settings_cls, case_sensitive=True),)

    try:
        return _Environment()
    except ValidationError as exc:
        raise SettingsInvalid(_one_line(exc)) from None
    except SourceError as exc:
        raise SettingsInvalid(" ".join(str(exc).split())) from None
