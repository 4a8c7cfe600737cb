"""Bad configuration fails before synth with one line naming the setting and what is allowed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ConfigError, load_environment, load_environments
from infra.naming import Names

ROOT = Path(__file__).resolve().parents[2]
BASE = json.loads((ROOT / "config" / "dev.json").read_text())


def write_env(tmp_path: Path, data: dict, name: str = "dev") -> Path:
    (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def with_setting(path: str, value) -> dict:
    data = json.loads(json.dumps(BASE))
    node = data
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return data


def error_for(tmp_path: Path, data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_environment("dev", config_dir=write_env(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_repository_configs_load():
    configs = load_environments()
    assert [c.name for c in configs] == ["dev", "prod"]
    assert configs[1].prod.deployment.strategy == "linear"
    assert configs[1].state_backend.use_lockfile is True


@pytest.mark.parametrize("path, value, expected", [
    ("trainin", {}, "config/dev.json.trainin: unknown setting; allowed: name, project, region"),
    ("training.instance_typ", "ml.m5.large",
     "config/dev.json.training.instance_typ: unknown setting; allowed: instance_type"),
    ("training.instance_type", "m5.large",
     "config/dev.json.training.instance_type: 'm5.large' is not a SageMaker instance type; "
     "expected ml.<family>.<size>"),
    ("prod.instance_type", "ml.m5", "config/dev.json.prod.instance_type: 'ml.m5' is not a "
                                    "SageMaker instance type"),
    ("training.max_runtime_seconds", 100000,
     "config/dev.json.training.max_runtime_seconds: 100000 is outside the allowed range 60..86400"),
    ("training.instance_count", "1",
     'config/dev.json.training.instance_count: expected an integer, got "1"'),
    ("staging.accept_pending_approval", "yes",
     'config/dev.json.staging.accept_pending_approval: expected true or false, got "yes"'),
    ("quality_gate.min_pr_auc", 1.5,
     "config/dev.json.quality_gate.min_pr_auc: 1.5 is outside the allowed range 0.0..1.0"),
    ("quality_gate.champion_tolerance", -0.1,
     "config/dev.json.quality_gate.champion_tolerance: -0.1 is outside the allowed range"),
    ("prod.deployment.strategy", "blue-green",
     "config/dev.json.prod.deployment.strategy: 'blue-green' is not allowed; allowed: "
     "all_at_once, canary, linear"),
    ("prod.deployment.canary_percent", 60,
     "config/dev.json.prod.deployment.canary_percent: 60 is outside the allowed range 1..50"),
    ("prod.deployment.wait_seconds", 4000,
     "config/dev.json.prod.deployment.wait_seconds: 4000 is outside the allowed range 0..3600"),
    ("prod.deployment.max_execution_timeout_seconds", 300,
     "config/dev.json.prod.deployment.max_execution_timeout_seconds: 300 is outside the allowed "
     "range 600..28800"),
    ("prod.accept_pending_approval", True,
     "config/dev.json.prod.accept_pending_approval: prod deploys Approved model packages only; "
     "allowed: false"),
    ("log_retention_days", 45,
     "config/dev.json.log_retention_days: 45 is not a CloudWatch retention period; allowed: 1, 3"),
    ("region", "Europe", "config/dev.json.region: 'Europe' is not an AWS region name"),
    ("account_id", "12345", "config/dev.json.account_id: '12345' is not a 12-digit AWS account ID"),
    ("project", "Fraud_MLOps", "config/dev.json.project: 'Fraud_MLOps' must be 1-16 lowercase"),
    ("project", "a-very-long-project-name",
     "config/dev.json.project: 'a-very-long-project-name' must be 1-16 lowercase"),
    ("notification_email", "not-an-address",
     "config/dev.json.notification_email: 'not-an-address' is not an e-mail address"),
    ("state_backend", {"bucket": "Bad_Bucket", "key": "k", "region": "eu-west-1"},
     "config/dev.json.state_backend.bucket: 'Bad_Bucket' is not a valid S3 bucket name"),
    ("state_backend", {"bucket": "state-bucket", "region": "eu-west-1"},
     "config/dev.json.state_backend.key: required setting is missing"),
    ("alarms.period_seconds", 45,
     "config/dev.json.alarms.period_seconds: 45 is not 10, 30 or a multiple of 60"),
    ("training.hyperparameters", {"max-iter": [1, 2]},
     "config/dev.json.training.hyperparameters.max-iter: expected a string or number, got list"),
])
def test_bad_setting_names_setting_and_allowed_values(tmp_path, path, value, expected):
    assert error_for(tmp_path, with_setting(path, value)).startswith(expected)


def test_derived_names_respect_aws_limits(tmp_path):
    # 16 + 1 + 8 = 25 characters of prefix, the longest allowed, in a 14-character region
    # (the longest region names): every derived name still fits.
    data = with_setting("project", "p" * 16)
    data["region"] = "ap-southeast-3"
    (tmp_path / "abcdefgh.json").write_text(json.dumps(data))
    config = load_environment("abcdefgh", config_dir=tmp_path)
    names = Names(config)
    assert len(names.artifact_bucket("123456789012")) <= 63
    assert all(len(names.role(p)) <= 64 for p in Names.ROLE_PURPOSES)
    assert len(names.endpoint("staging")) <= 63


def test_environment_name_longer_than_budget_is_rejected(tmp_path):
    (tmp_path / "integration.json").write_text(json.dumps(BASE))
    with pytest.raises(ConfigError, match=r"config/integration.json.name: 'integration' must be "
                                          r"1-8 lowercase"):
        load_environment("integration", config_dir=tmp_path)


def test_unknown_environment_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"^environment 'qa': no such environment; "
                                          r"available: dev, prod$"):
        load_environment("qa")


def test_invalid_json_names_line_and_column(tmp_path):
    (tmp_path / "dev.json").write_text('{"project": "x",\n "region": }')
    with pytest.raises(ConfigError, match=r"config/dev.json: not valid JSON: .* line 2 column"):
        load_environment("dev", config_dir=tmp_path)


def test_overrides_apply_and_are_validated():
    (config,) = load_environments(["dev"], {"dev": {"training": {"instance_type": "ml.c5.xlarge"}}})
    assert config.training.instance_type == "ml.c5.xlarge"
    with pytest.raises(ConfigError, match=r"^context overrides.qa: no such environment"):
        load_environments(["dev"], {"qa": {}})
    with pytest.raises(ConfigError, match=r"config/dev.json.training.instance_type: 'c5' is not"):
        load_environments(["dev"], {"dev": {"training": {"instance_type": "c5"}}})


@pytest.mark.parametrize("args, env, expected", [
    (["synth", "--env", "qa"], {}, "error: environment 'qa': no such environment; "
                                   "available: dev, prod"),
    (["synth"], {"CDKTF_CONTEXT_JSON": '{"overrides": {"prod": {"prod": {"instance_count": 0}}}}'},
     "error: config/prod.json.prod.instance_count: 0 is outside the allowed range 1..20"),
    (["synth", "-c", "environments=dev", "-c",
      'overrides={"dev": {"quality_gate": {"min_recall": 2}}}'], {},
     "error: config/dev.json.quality_gate.min_recall: 2.0 is outside the allowed range 0.0..1.0"),
    (["synth"], {"CDKTF_CONTEXT_JSON": "{not json"},
     "error: CDKTF_CONTEXT_JSON: not valid JSON (Expecting property name enclosed in double "
     "quotes)"),
    (["frobnicate"], {}, "error: unknown command 'frobnicate'; commands: synth, run-local, "
                         "teardown, diff"),
])
def test_cli_bad_input_is_one_line_exit_2_no_traceback(tmp_path, args, env, expected):
    import os
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), *args,
                             *(["--outdir", str(tmp_path / "out")] if args[0] == "synth" else [])],
                            capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, **env}, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing half-done
