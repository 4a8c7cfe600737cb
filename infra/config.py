"""Typed, validated configuration: one object per environment, loaded from config/<env>.json.

Every setting is checked before anything is synthesized, and a bad value fails with a single
line that names the file, the setting and what is allowed (ConfigError), never a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from pipeline_src.evaluate import GateThresholds

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# SageMaker scikit-learn container the jobs train and serve with. A model must be loaded by the
# scikit-learn version that pickled it, so requirements pin scikit-learn to SKLEARN_VERSION.
SKLEARN_FRAMEWORK_VERSION = "1.4-2-py312"
SKLEARN_VERSION = "1.4.2"

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)
CODEBUILD_COMPUTE_TYPES = ("BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE")

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_TAG_KEY_RE = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")


class ConfigError(ValueError):
    """A configuration value is not acceptable; str() is the one-line message for the user."""


def _fail(path: str, message: str) -> typing.NoReturn:
    raise ConfigError(f"{path}: {message}")


def _check_range(path: str, value, low, high) -> None:
    if not (low <= value <= high):
        _fail(path, f"{value!r} is outside the allowed range {low}..{high}")


@dataclass(frozen=True)
class TrainingConfig:
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_runtime_seconds: int = 3600
    volume_size_gb: int = 10
    # Passed to the training entry point as SageMaker passes them: --name value.
    hyperparameters: dict[str, str] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        _check_instance_type(f"{path}.instance_type", self.instance_type)
        # The entry point trains on one machine; more instances would only add cost.
        _check_range(f"{path}.instance_count", self.instance_count, 1, 1)
        # The CodeBuild train project waits for the job: its timeout (max runtime + 80 min)
        # must stay within CodeBuild's 36 hours.
        _check_range(f"{path}.max_runtime_seconds", self.max_runtime_seconds, 60, 86400)
        _check_range(f"{path}.volume_size_gb", self.volume_size_gb, 1, 512)
        for key in self.hyperparameters:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", key):
                _fail(f"{path}.hyperparameters.{key}",
                      "hyperparameter names are lowercase letters, digits, '_' or '-' (max 64)")


@dataclass(frozen=True)
class QualityGateConfig(GateThresholds):
    """Thresholds the challenger must meet on held-out data, and how much the champion may beat
    it. The fields are the gate's own (pipeline_src/evaluate.py), so the two cannot drift."""

    def validate(self, path: str) -> None:
        for f in dataclasses.fields(self):
            _check_range(f"{path}.{f.name}", getattr(self, f.name), 0.0, 1.0)


@dataclass(frozen=True)
class DeploymentConfig:
    """Blue/green traffic shifting for UpdateEndpoint, within the limits SageMaker accepts."""

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: int = 10
    linear_step_percent: int = 20
    wait_seconds: int = 300
    termination_wait_seconds: int = 300
    max_execution_timeout_seconds: int = 3600

    def validate(self, path: str) -> None:
        if self.strategy == "canary":
            # SageMaker: canary size at most 50 % of the fleet.
            _check_range(f"{path}.canary_percent", self.canary_percent, 1, 50)
        if self.strategy == "linear":
            # SageMaker: linear step between 10 % and 50 % of the fleet.
            _check_range(f"{path}.linear_step_percent", self.linear_step_percent, 10, 50)
        _check_range(f"{path}.wait_seconds", self.wait_seconds, 0, 3600)
        _check_range(f"{path}.termination_wait_seconds", self.termination_wait_seconds, 0, 3600)
        _check_range(f"{path}.max_execution_timeout_seconds",
                     self.max_execution_timeout_seconds, 600, 28800)


@dataclass(frozen=True)
class EndpointStageConfig:
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)
    # Staging may serve a model still PendingManualApproval; prod never does.
    accept_pending_approval: bool = False
    data_capture_percent: int = 0
    # Endpoint configs and models kept after a deploy, for a manual rollback.
    keep_previous: int = 2
    smoke_test: bool = True

    def validate(self, path: str) -> None:
        _check_instance_type(f"{path}.instance_type", self.instance_type)
        _check_range(f"{path}.instance_count", self.instance_count, 1, 20)
        self.deployment.validate(f"{path}.deployment")
        _check_range(f"{path}.data_capture_percent", self.data_capture_percent, 0, 100)
        _check_range(f"{path}.keep_previous", self.keep_previous, 0, 10)


@dataclass(frozen=True)
class AlarmConfig:
    """Per-endpoint alarms; the deploy step rolls an update back when one fires."""

    error_5xx_threshold: int = 1
    model_latency_p99_ms: int = 500
    period_seconds: int = 60
    evaluation_periods: int = 3

    def validate(self, path: str) -> None:
        _check_range(f"{path}.error_5xx_threshold", self.error_5xx_threshold, 0, 100000)
        _check_range(f"{path}.model_latency_p99_ms", self.model_latency_p99_ms, 1, 600000)
        if self.period_seconds not in (10, 30) and self.period_seconds % 60:
            _fail(f"{path}.period_seconds",
                  f"{self.period_seconds!r} is not 10, 30 or a multiple of 60")
        _check_range(f"{path}.period_seconds", self.period_seconds, 10, 86400)
        _check_range(f"{path}.evaluation_periods", self.evaluation_periods, 1, 100)


@dataclass(frozen=True)
class StateBackendConfig:
    bucket: str
    key: str
    region: str
    use_lockfile: bool = True

    def validate(self, path: str) -> None:
        _check_bucket_name(f"{path}.bucket", self.bucket)
        if not self.key or self.key.startswith("/"):
            _fail(f"{path}.key", f"{self.key!r} must be a non-empty S3 key not starting with '/'")
        _check_region(f"{path}.region", self.region)


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    project: str
    region: str
    account_id: Optional[str] = None
    training: TrainingConfig = field(default_factory=TrainingConfig)
    quality_gate: QualityGateConfig = field(default_factory=QualityGateConfig)
    staging: EndpointStageConfig = field(
        default_factory=lambda: EndpointStageConfig(accept_pending_approval=True))
    prod: EndpointStageConfig = field(default_factory=EndpointStageConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    log_retention_days: int = 30
    codebuild_compute_type: str = "BUILD_GENERAL1_SMALL"
    notification_email: Optional[str] = None
    state_backend: Optional[StateBackendConfig] = None
    tags: dict[str, str] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        if not _NAME_RE.fullmatch(self.name) or len(self.name) > 8:
            _fail(f"{path}.name", f"{self.name!r} must be 1-8 lowercase letters, digits or "
                  "single hyphens, starting with a letter")
        if not _NAME_RE.fullmatch(self.project) or len(self.project) > 16:
            _fail(f"{path}.project", f"{self.project!r} must be 1-16 lowercase letters, digits or "
                  "single hyphens, starting with a letter (it prefixes every resource name)")
        _check_region(f"{path}.region", self.region)
        if self.account_id is not None and not _ACCOUNT_RE.fullmatch(self.account_id):
            _fail(f"{path}.account_id", f"{self.account_id!r} is not a 12-digit AWS account ID")
        self.training.validate(f"{path}.training")
        self.quality_gate.validate(f"{path}.quality_gate")
        self.staging.validate(f"{path}.staging")
        self.prod.validate(f"{path}.prod")
        if self.prod.accept_pending_approval:
            _fail(f"{path}.prod.accept_pending_approval",
                  "prod deploys Approved model packages only; allowed: false")
        self.alarms.validate(f"{path}.alarms")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            _fail(f"{path}.log_retention_days", f"{self.log_retention_days!r} is not a CloudWatch "
                  f"retention period; allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.codebuild_compute_type not in CODEBUILD_COMPUTE_TYPES:
            _fail(f"{path}.codebuild_compute_type", f"{self.codebuild_compute_type!r}; allowed: "
                  f"{', '.join(CODEBUILD_COMPUTE_TYPES)}")
        if self.notification_email is not None and not _EMAIL_RE.fullmatch(self.notification_email):
            _fail(f"{path}.notification_email", f"{self.notification_email!r} is not an e-mail address")
        if self.state_backend is not None:
            self.state_backend.validate(f"{path}.state_backend")
        for key, value in self.tags.items():
            if not _TAG_KEY_RE.fullmatch(key) or key.lower().startswith("aws:"):
                _fail(f"{path}.tags", f"{key!r} is not a valid tag key")
            if len(value) > 256:
                _fail(f"{path}.tags.{key}", "tag values are at most 256 characters")


def _check_instance_type(path: str, value: str) -> None:
    if not _INSTANCE_RE.fullmatch(value):
        _fail(path, f"{value!r} is not a SageMaker instance type; expected ml.<family>.<size>, "
              "e.g. ml.m5.large")


def _check_region(path: str, value: str) -> None:
    if not _REGION_RE.fullmatch(value):
        _fail(path, f"{value!r} is not an AWS region name, e.g. eu-west-1")


def _check_bucket_name(path: str, value: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        _fail(path, f"{value!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, "
              "'.' or '-')")


# --- loading -----------------------------------------------------------------------------------

_SCALARS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is dict:
        return "an object of strings"
    if dataclasses.is_dataclass(tp):
        return "an object"
    return _SCALARS.get(tp, str(tp))


def _coerce(tp, value, path: str):
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        inner = [a for a in typing.get_args(tp) if a is not type(None)][0]
        return None if value is None else _coerce(inner, value, path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            _fail(path, f"{value!r} is not allowed; allowed: "
                  + ", ".join(str(a) for a in typing.get_args(tp)))
        return value
    if origin is dict:
        if not isinstance(value, dict):
            _fail(path, f"expected {_describe(tp)}, got {type(value).__name__}")
        out = {}
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                _fail(f"{path}.{key}", f"expected a string or number, got {type(item).__name__}")
            out[str(key)] = str(item)
        return out
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            _fail(path, f"expected an object, got {type(value).__name__}")
        return _build(tp, value, path)
    # bool is an int in Python; keep true/false and numbers apart.
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and type(value) is tp:
        return value
    _fail(path, f"expected {_describe(tp)}, got {json.dumps(value)}")


def _build(cls, data: dict, path: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        _fail(f"{path}.{unknown[0]}", f"unknown setting; allowed: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{path}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _fail(f"{path}.{name}", "required setting is missing")
    return cls(**kwargs)


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.json"))


def load_environment(name: str, overrides: Optional[dict] = None,
                     config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    """Load config/<name>.json, apply context overrides, validate. Raises ConfigError."""
    path = config_dir / f"{name}.json"
    label = f"config/{name}.json"
    if not path.is_file():
        _fail(f"environment {name!r}", "no such environment; available: "
              + (", ".join(available_environments(config_dir)) or "none"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        _fail(label, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(data, dict):
        _fail(label, "expected a JSON object at the top level")
    if overrides:
        data = deep_merge(data, overrides)
    data.setdefault("name", name)
    if data["name"] != name:
        _fail(f"{label}: name", f"{data['name']!r} must match the file name {name!r}")
    config = _build(EnvironmentConfig, data, label)
    config.validate(label)
    # Names derive from the config; check the longest ones fit AWS limits now, not at deploy.
    from infra.naming import Names

    Names(config).validate(label)
    return config


def load_environments(names: Optional[list[str]] = None, overrides: Optional[dict] = None,
                      config_dir: Path = CONFIG_DIR) -> list[EnvironmentConfig]:
    """Load several environments; overrides is {env_name: {setting: value}}."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        _fail("context overrides", "expected an object {environment: {setting: value}}")
    available = available_environments(config_dir)
    chosen = names or available
    for env in overrides:
        if env not in available:
            _fail(f"context overrides.{env}", "no such environment; available: "
                  + ", ".join(available))
    configs = []
    for env in chosen:
        env_overrides = overrides.get(env) or {}
        if not isinstance(env_overrides, dict):
            _fail(f"context overrides.{env}", "expected an object of settings")
        configs.append(load_environment(env, env_overrides, config_dir))
    return configs
