"""Bad configuration fails before synth with one line naming the setting and what is allowed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ConfigError, load_environment, load_environments
from infra.naming import Names
from tests.config_edit import with_setting

ROOT = Path(__file__).resolve().parents[2]
BASE = json.loads((ROOT / "config" / "dev.json").read_text())
_LOCAL = dict(region="eu-west-1", execution_role_arn="arn:aws:iam::1:role/r", kms_key_arn="k",
              data_capture_s3_uri="s3://b/data-capture", role_arn=None, external_id=None)
PLACEMENTS = {"staging": _LOCAL, "prod": _LOCAL}


def write_env(tmp_path: Path, data: dict, name: str = "dev") -> Path:
    (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def error_for(tmp_path: Path, data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_environment("dev", config_dir=write_env(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_repository_configs_load():
    configs = load_environments()
    assert [c.name for c in configs] == ["dev", "prod"]
    assert configs[1].stage("prod").deployment.strategy == "linear"
    assert configs[0].stage_names == configs[1].stage_names == ["staging", "prod"]
    assert configs[1].state_backend.use_lockfile is True


@pytest.mark.parametrize("path, value, expected", [
    ("trainin", {}, "config/dev.json.trainin: unknown setting; allowed: name, project, region"),
    ("training.instance_typ", "ml.m5.large",
     "config/dev.json.training.instance_typ: unknown setting; allowed: instance_type"),
    ("training.instance_type", "m5.large",
     "config/dev.json.training.instance_type: 'm5.large' is not a SageMaker instance type; "
     "expected ml.<family>.<size>"),
    ("stages.1.instance_type", "ml.m5", "config/dev.json.stages[1].instance_type: 'ml.m5' is not a "
                                    "SageMaker instance type"),
    ("training.max_runtime_seconds", 100000,
     "config/dev.json.training.max_runtime_seconds: 100000 is outside the allowed range 60..86400"),
    ("training.instance_count", "1",
     'config/dev.json.training.instance_count: expected an integer, got "1"'),
    ("stages.0.accept_pending_approval", "yes",
     'config/dev.json.stages[0].accept_pending_approval: expected true or false, got "yes"'),
    ("quality_gate.min_pr_auc", 1.5,
     "config/dev.json.quality_gate.min_pr_auc: 1.5 is outside the allowed range 0..1"),
    ("quality_gate.champion_tolerance", -0.1,
     "config/dev.json.quality_gate.champion_tolerance: -0.1 is outside the allowed range"),
    ("stages.1.deployment.strategy", "blue-green",
     "config/dev.json.stages[1].deployment.strategy: 'blue-green' is not allowed; allowed: "
     "all_at_once, canary, linear"),
    ("stages.1.deployment.canary_percent", 60,
     "config/dev.json.stages[1].deployment.canary_percent: 60 is outside the allowed range 1..50"),
    ("stages.1.deployment.wait_seconds", 4000,
     "config/dev.json.stages[1].deployment.wait_seconds: 4000 is outside the allowed range 0..3600"),
    ("stages.1.deployment.max_execution_timeout_seconds", 300,
     "config/dev.json.stages[1].deployment.max_execution_timeout_seconds: 300 is outside the allowed "
     "range 600..28800"),
    ("stages.1.accept_pending_approval", True,
     "config/dev.json.stages[1].accept_pending_approval: a stage at or after a manual approval "
     "deploys Approved model packages only; allowed: false"),
    ("log_retention_days", 45,
     "config/dev.json.log_retention_days: 45 is not allowed; allowed: 1, 3, 5, 7, 14, 30"),
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
    assert error_for(tmp_path, with_setting(BASE, path, value)).startswith(expected)


def test_derived_names_respect_aws_limits(tmp_path):
    # 16 + 1 + 8 = 25 characters of prefix, the longest allowed, in a 14-character region
    # (the longest region names): every derived name still fits.
    data = with_setting(BASE, "project", "p" * 16)
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
    (["synth"], {"CDKTF_CONTEXT_JSON":
                 '{"overrides": {"prod": {"training": {"max_runtime_seconds": 10}}}}'},
     "error: config/prod.json.training.max_runtime_seconds: 10 is outside the allowed range "
     "60..86400"),
    (["synth", "-c", "environments=dev", "-c",
      'overrides={"dev": {"quality_gate": {"min_recall": 2}}}'], {},
     "error: config/dev.json.quality_gate.min_recall: 2 is outside the allowed range 0..1"),
    (["synth"], {"CDKTF_CONTEXT_JSON": "{not json"},
     "error: CDKTF_CONTEXT_JSON: not valid JSON: Expecting property name enclosed in double "
     "quotes at line 1 column 2"),
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


@pytest.mark.parametrize("path, value, expected", [
    # Strict types: no quietly coerced values.
    ("training.instance_count", True, "config/dev.json.training.instance_count: expected an "
                                      "integer, got true"),
    ("training.instance_count", 1.0, "config/dev.json.training.instance_count: expected an "
                                     "integer, got 1.0"),
    ("stages.1.smoke_test", 0, "config/dev.json.stages[1].smoke_test: expected true or false, got 0"),
    ("region", None, "config/dev.json.region: expected a string, got null"),
    ("stages.1.deployment", [], "config/dev.json.stages[1].deployment: expected an object, got []"),
    ("tags", {"aws:owner": "me"}, "config/dev.json.tags: 'aws:owner' is not a valid tag key"),
    ("tags", {"Owner": 5}, "config/dev.json.tags.Owner: expected a string, got 5"),
    ("training.hyperparameters", {"Max Iter": 3},
     'config/dev.json.training.hyperparameters["Max Iter"]: \'Max Iter\' is not a hyperparameter '
     "name"),
    ("state_backend", {"bucket": "state-bucket", "key": "/abs", "region": "eu-west-1"},
     "config/dev.json.state_backend.key: '/abs' must be a non-empty S3 key not starting with '/'"),
    ("codebuild_compute_type", "BUILD_GENERAL1_HUGE",
     "config/dev.json.codebuild_compute_type: 'BUILD_GENERAL1_HUGE' is not allowed; allowed: "
     "BUILD_GENERAL1_SMALL, BUILD_GENERAL1_MEDIUM, BUILD_GENERAL1_LARGE"),
    # The deploy step refuses these whatever the strategy, so synth does too.
    ("stages.0.deployment.canary_percent", 0,
     "config/dev.json.stages[0].deployment.canary_percent: 0 is outside the allowed range 1..50"),
    ("stages.0.deployment.linear_step_percent", 5,
     "config/dev.json.stages[0].deployment.linear_step_percent: 5 is outside the allowed range 10..50"),
    ("name", "prod", "config/dev.json.name: 'prod' must match the file name 'dev'"),
    ("stages.1.autoscaling.scale_in_cooldown_seconds", 3601,
     "config/dev.json.stages[1].autoscaling.scale_in_cooldown_seconds: 3601 is outside the allowed "
     "range 0..3600"),
])
def test_strict_types_and_cross_field_rules(tmp_path, path, value, expected):
    assert error_for(tmp_path, with_setting(BASE, path, value)).startswith(expected)


GITHUB = {"type": "github", "repository": "example-org/fraud-mlops"}
CONNECTION = ("arn:aws:codeconnections:eu-west-1:111111111111:connection/"
              "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")


@pytest.mark.parametrize("source, expected", [
    ({"type": "github"}, 'source.repository: required when type is "github" (owner/name)'),
    ({**GITHUB, "repository": "example-org"},
     "source.repository: 'example-org' is not a GitHub repository id; expected owner/name"),
    ({**GITHUB, "repository": "https://github.com/example-org/fraud-mlops"},
     "source.repository: 'https://github.com/example-org/fraud-mlops' is not a GitHub repository "
     "id"),
    ({**GITHUB, "repository": "-org/repo"}, "source.repository: '-org/repo' is not a GitHub"),
    ({**GITHUB, "branch": "feature/*"}, "source.branch: 'feature/*' is not a git branch name"),
    ({**GITHUB, "branch": "-main"}, "source.branch: '-main' is not a git branch name"),
    ({**GITHUB, "branch": "main.lock"}, "source.branch: 'main.lock' is not a git branch name"),
    ({**GITHUB, "file_paths": []}, "source.file_paths: expected at least 1 entries, got 0"),
    ({**GITHUB, "file_paths": [f"p{i}/**" for i in range(9)]},
     "source.file_paths: expected at most 8 entries, got 9"),
    ({**GITHUB, "file_paths": ["x" * 256]}, "source.file_paths[0]:"),
    ({**GITHUB, "file_paths": ["/pipeline_src/**"]},
     "source.file_paths[0]: '/pipeline_src/**' is not a repository file path pattern"),
    ({**GITHUB, "connection_arn": "arn:aws:codeconnections:eu-west-1:111111111111:host/abc"},
     "source.connection_arn: 'arn:aws:codeconnections:eu-west-1:111111111111:host/abc' is not a "
     "connection ARN"),
    ({**GITHUB, "connection_arn": CONNECTION.replace("eu-west-1", "us-east-1")},
     "source.connection_arn: is in region 'us-east-1', not the pipeline's region 'eu-west-1'"),
    ({"type": "s3", "repository": "example-org/fraud-mlops"},
     'source.repository: applies to type "github" only; this source is "s3"'),
    ({"branch": "main"}, 'source.branch: applies to type "github" only; this source is "s3"'),
    ({"type": "codecommit"}, "source.type: 'codecommit' is not allowed; allowed: s3, github"),
    ({**GITHUB, "detect_changes": True}, "source.detect_changes: unknown setting; allowed: type, "
                                         "repository, branch, file_paths, connection_arn, "
                                         "pull_requests"),
    ({"pull_requests": True},
     'source.pull_requests: applies to type "github" only; this source is "s3"'),
])
def test_source_settings_are_refused_with_one_line_naming_the_setting(tmp_path, source, expected):
    assert error_for(tmp_path, with_setting(BASE, "source", source)).startswith(
        f"config/dev.json.{expected}")


def test_a_github_source_with_a_given_connection_loads(tmp_path):
    config = load_environment("dev", config_dir=write_env(tmp_path, with_setting(
        BASE, "source", {**GITHUB, "connection_arn": CONNECTION, "branch": "release/1.x"})))
    assert config.source.is_github and config.source.connection_arn == CONNECTION
    assert config.source.file_paths == ["pipeline_src/**"]
    assert not load_environment("dev").source.is_github  # the default: today's S3 source


_SUBNETS = ["subnet-0123abcd", "subnet-4567ef01"]


@pytest.mark.parametrize("network, expected", [
    ({"cidr": "8.8.0.0/16"}, "network.cidr: '8.8.0.0/16' is not a private (RFC 1918) range"),
    ({"cidr": "10.0.0.0/8"}, "network.cidr: '10.0.0.0/8' has a /8 prefix; a VPC takes /16 to /24"),
    ({"cidr": "10.20.0.1/16"}, "network.cidr: '10.20.0.1/16' is not an IPv4 CIDR block "
                               "(10.20.0.1/16 has host bits set)"),
    ({"cidr": 10}, "network.cidr: expected a string, got 10"),
    ({}, "network.vpc_id: set either cidr (a VPC the stack creates) or vpc_id with subnet_ids"),
    ({"cidr": "10.20.0.0/16", "vpc_id": "vpc-0123abcd", "subnet_ids": _SUBNETS},
     "network.cidr: set either cidr (a VPC the stack creates) or vpc_id with subnet_ids (an "
     "existing VPC), not both"),
    ({"vpc_id": "vpc-0123abcd"}, "network.subnet_ids: required with vpc_id"),
    ({"vpc_id": "vpc-12", "subnet_ids": _SUBNETS},
     "network.vpc_id: 'vpc-12' is not a VPC ID (vpc- and 8 or 17 hexadecimal digits)"),
    ({"vpc_id": "vpc-0123abcd", "subnet_ids": _SUBNETS[:1]},
     "network.subnet_ids: expected at least 2 entries, got 1"),
    ({"vpc_id": "vpc-0123abcd", "subnet_ids": [_SUBNETS[0], "subnet-x"]},
     "network.subnet_ids[1]: 'subnet-x' is not a subnet ID"),
    ({"vpc_id": "vpc-0123abcd", "subnet_ids": [_SUBNETS[0]] * 2},
     "network.subnet_ids[1]: 'subnet-0123abcd' is listed twice"),
    ({"vpc_id": "vpc-0123abcd", "subnet_ids": _SUBNETS, "security_group_ids": ["sg-0123abcd"] * 5},
     "network.security_group_ids: expected at most 4 entries, got 5"),
    ({"cidr": "10.20.0.0/16", "security_group_ids": ["sg-0123abcd"]},
     "network.security_group_ids: only with vpc_id"),
    ({"cidr": "10.20.0.0/16", "nat": True},
     "network.nat: unknown setting; allowed: cidr, vpc_id, subnet_ids, security_group_ids"),
])
def test_network_setting_is_validated_with_one_line(tmp_path, network, expected):
    assert error_for(tmp_path, with_setting(BASE, "network", network)).startswith(
        f"config/dev.json.{expected}")


def test_network_setting_accepts_a_created_or_an_existing_vpc(tmp_path):
    created = load_environment("dev", config_dir=write_env(
        tmp_path, with_setting(BASE, "network", {"cidr": "10.20.0.0/16"}))).network
    assert created.creates_vpc and created.subnet_ids is None
    existing = load_environment("dev", config_dir=write_env(tmp_path, with_setting(
        BASE, "network", {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": _SUBNETS}))).network
    assert not existing.creates_vpc and existing.subnet_ids == _SUBNETS
    assert load_environment("dev", config_dir=write_env(tmp_path, BASE)).network is None


def test_several_problems_report_the_first_and_count_the_rest(tmp_path):
    data = with_setting(BASE, "region", "Europe")
    data["training"]["instance_count"] = 3
    assert error_for(tmp_path, data) == ("config/dev.json.region: 'Europe' is not an AWS region "
                                         "name, e.g. eu-west-1 (and 1 more problem(s))")


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe{}", "config/dev.json: not UTF-8 text (byte 0xff at offset 0)"),
    (b"[1, 2]", "config/dev.json: expected a JSON object at the top level, got list"),
    (b'"dev"', "config/dev.json: expected a JSON object at the top level, got str"),
    (b'{"region": "eu-west-1", "region": "us-east-1"}',
     "config/dev.json: not valid configuration JSON: setting 'region' appears twice"),
    (b'{"quality_gate": {"min_f1": NaN}}',
     "config/dev.json.quality_gate.min_f1: NaN is not a JSON number; give a number"),
    (b'{"tags": ' * 40 + b"{}" + b"}" * 40, "config/dev.json: nested too deeply (more than 32"),
    (b"[" * 100000 + b"]" * 100000, "config/dev.json: nested too deeply"),
    (b"", "config/dev.json: not valid JSON: Expecting value at line 1 column 1"),
])
def test_unreadable_config_files_fail_with_one_line(tmp_path, content, expected):
    (tmp_path / "dev.json").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_environment("dev", config_dir=tmp_path)
    assert str(info.value).startswith(expected)


def test_config_that_is_a_folder_or_a_symlink_loop(tmp_path):
    (tmp_path / "dev.json").mkdir()
    with pytest.raises(ConfigError, match=r"^config/dev.json: is a folder; expected a JSON file$"):
        load_environment("dev", config_dir=tmp_path)
    (tmp_path / "qa.json").symlink_to(tmp_path / "qa.json")
    with pytest.raises(ConfigError, match=r"^config/qa.json: cannot be read: Too many levels of "
                                          r"symbolic links$"):
        load_environment("qa", config_dir=tmp_path)


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root reads any file")
def test_unreadable_config_file(tmp_path):
    path = write_env(tmp_path, BASE) / "dev.json"
    path.chmod(0)
    with pytest.raises(ConfigError, match=r"^config/dev.json: cannot be read: Permission denied$"):
        load_environment("dev", config_dir=tmp_path)


@pytest.mark.parametrize("name", ["../dev", "Dev", "", "dev/x"])
def test_environment_names_that_are_not_names(name):
    with pytest.raises(ConfigError, match=r"not an environment name; available: dev, prod$"):
        load_environment(name)


def test_two_environments_on_one_state_object_are_refused(tmp_path):
    # What copying prod.json to start a new environment gives.
    prod = json.loads((ROOT / "config" / "prod.json").read_text())
    (tmp_path / "prod.json").write_text(json.dumps(prod))
    (tmp_path / "qa.json").write_text(json.dumps(prod))
    with pytest.raises(ConfigError, match=r"^config/qa.json.state_backend: bucket "
                                          r"'fraud-mlops-terraform-state' key "
                                          r"'fraud-mlops/prod/terraform.tfstate' is also the state "
                                          r"of environment 'prod'; each environment needs its "
                                          r"own key$"):
        load_environments(["prod"], config_dir=tmp_path)
    prod["state_backend"]["key"] = "fraud-mlops/qa/terraform.tfstate"
    (tmp_path / "qa.json").write_text(json.dumps(prod))
    assert [c.name for c in load_environments(config_dir=tmp_path)] == ["prod", "qa"]


def test_an_environment_chosen_twice_is_refused():
    with pytest.raises(ConfigError, match=r"^environment 'dev': chosen more than once$"):
        load_environments(["dev", "dev"])


def test_schema_and_readme_table_are_generated_from_the_model():
    from infra import config_schema

    result = subprocess.run([sys.executable, "-m", "infra.config_schema", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Every setting the model accepts is in the table, with its default.
    table = config_schema.readme_table()
    assert "| `stages` | list of 1..10 | staging, prod |" in table
    assert "| `stages[].accept_pending_approval` | true/false | `false` |" in table
    assert "| `stages[].deployment.canary_percent` | integer 1..50 | `10` |" in table
    assert "| `stages[].variants[].weight` | number > 0, ≤ 1000 | `1.0` |" in table


def test_schema_check_fails_when_a_setting_changes(tmp_path, monkeypatch):
    from infra import config_schema

    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text().replace("`stages[].keep_previous`",
                                                               "`stages[].keep_old`"))
    schema = tmp_path / "schema.json"
    schema.write_text(config_schema.schema_text())
    monkeypatch.setattr(config_schema, "ROOT", tmp_path)
    monkeypatch.setattr(config_schema, "README", readme)
    monkeypatch.setattr(config_schema, "SCHEMA_FILE", schema)
    assert config_schema.main(["--check"]) == 1
    assert config_schema.main(["--write"]) == 0
    assert config_schema.main(["--check"]) == 0
    assert "`stages[].keep_previous`" in readme.read_text()


def test_schema_validates_the_repository_configs():
    """The editor schema accepts what the loader accepts (checked by a JSON Schema validator)."""
    import jsonschema

    from infra.config_schema import json_schema

    for path in sorted((ROOT / "config").glob("*.json")):
        if path.name != "schema.json":
            jsonschema.validate(json.loads(path.read_text()), json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(with_setting(BASE, "stages.1.deployment.canary_percent", 60),
                            json_schema())


def test_synth_runs_the_deploy_steps_own_validation_on_its_settings():
    """A value the config schema would let through but the deploy step refuses fails synth."""
    from infra.deploy_function import stage_settings_variable
    from infra.environment import DeploymentTarget
    from infra.config import DeploymentConfig, StageConfig

    config = load_environment("dev")
    # model_construct skips the schema: it stands for a schema that drifted from the function.
    prod = config.stage("prod")
    drifted = config.model_copy(update={"stages": [config.stage("staging"),
                                                   StageConfig.model_construct(
        **{**dict(prod), "deployment": DeploymentConfig.model_construct(
            **{**dict(prod.deployment), "canary_percent": 0})})]})
    names = Names(drifted)
    alarms = {stage: [names.alarm(stage, "5xx-errors")] for stage in ("staging", "prod")}
    target = DeploymentTarget(drifted, names, "123456789012")
    with pytest.raises(ConfigError, match=r"^config/dev.json: the deploy step would refuse its "
                                          r"settings: deploy function environment: "
                                          r"STAGE_SETTINGS.prod.deployment.canary_percent: 0 is "
                                          r"outside 1..50$"):
        stage_settings_variable(target, alarms, PLACEMENTS)
    from lambda_deploy.settings import parse_stage_settings

    value = stage_settings_variable(DeploymentTarget(config, Names(config), "1"), alarms,
                                    PLACEMENTS)
    assert parse_stage_settings(value, "fraud-mlops-dev")["prod"].deployment.canary_percent == 50


def test_autoscaling_cooldowns_reach_the_deploy_step_with_its_defaults():
    from infra.deploy_function import stage_settings_variable
    from infra.environment import DeploymentTarget
    from lambda_deploy.settings import parse_stage_settings

    config = load_environment("dev", overrides={"stages": [{"name": "prod", "autoscaling": {
        "min_instances": 2, "max_instances": 4, "target_invocations_per_instance": 200,
        "scale_in_cooldown_seconds": 900}}]})
    names = Names(config)
    alarms = {stage: [names.alarm(stage, "5xx-errors")] for stage in ("staging", "prod")}
    value = stage_settings_variable(DeploymentTarget(config, names, "1"), alarms, PLACEMENTS)
    scaling = parse_stage_settings(value, "fraud-mlops-dev")["prod"].autoscaling
    assert (scaling.scale_out_cooldown_seconds, scaling.scale_in_cooldown_seconds) == (60, 900)


STAGING_PROD = [{"name": "staging", "accept_pending_approval": True},
                {"name": "prod", "approval": True}]


@pytest.mark.parametrize("stages, expected", [
    ([], "config/dev.json.stages: expected at least 1 entries, got 0"),
    ([{"name": "qa"}, {"name": "qa"}], "config/dev.json.stages[1].name: 'qa' is named twice"),
    ([{"name": "Prod"}], "config/dev.json.stages[0].name: 'Prod' is not a stage name: 1-16 "
                         "lowercase letters or digits, starting with a letter"),
    ([{"name": "prod", "approval": True}, {"name": "late", "accept_pending_approval": True}],
     "config/dev.json.stages[1].accept_pending_approval: a stage at or after a manual approval "
     "deploys Approved model packages only; allowed: false"),
    ([{"name": "prod", "variants": [{"name": "a"}, {"name": "a"}]}],
     "config/dev.json.stages[0].variants[1].name: 'a' is named twice"),
    ([{"name": "prod", "variants": [{"name": "a", "weight": 0}]}],
     "config/dev.json.stages[0].variants[0].weight: 0: Input should be greater than 0"),
    ([{"name": "prod", "variants": [{"name": "a_b"}]}],
     "config/dev.json.stages[0].variants[0].name: 'a_b' is not a SageMaker variant name"),
    ([{"name": "prod", "variants": [{"name": f"v{i}"} for i in range(6)]}],
     "config/dev.json.stages[0].variants: expected at most 5 entries, got 6"),
    ([{"name": "prod", "account_id": "222222222222"}],
     "config/dev.json.stages[0].account_id: '222222222222' is another account, so the "
     "environment's account_id (the tooling account the pipeline runs in) must be set"),
    ([{"name": "prod", "region": "us-east-1"}],
     "config/dev.json.stages[0].region: 'us-east-1' differs from the environment's region "
     "'eu-west-1', where the model registry is; serve other regions as secondary_regions"),
    # Secondary regions (issue 23): in the stage's own account, each once.
    ([{"name": "prod", "secondary_regions": ["eu-central-1"]}],
     "config/dev.json.stages[0].secondary_regions: a stage serving from several regions "
     "must be in its own account_id"),
    ([{"name": "prod", "secondary_regions": ["eu-central-1", "eu-central-1"]}],
     "config/dev.json.stages[0].secondary_regions[1]: 'eu-central-1' is listed twice"),
    ([{"name": "prod", "secondary_regions": ["eu_central-1"]}],
     "config/dev.json.stages[0].secondary_regions[0]: 'eu_central-1' is not an AWS region"),
    ([{"name": "prod", "instance_cnt": 2}],
     "config/dev.json.stages[0].instance_cnt: unknown setting; allowed: instance_type, "),
])
def test_stages_are_validated_with_one_line_naming_the_stage_setting(tmp_path, stages, expected):
    assert error_for(tmp_path, {**BASE, "stages": stages}).startswith(expected)


def test_stages_are_data_in_order_with_their_variants(tmp_path):
    """A third stage and a second variant are config edits: the pipeline, alarms, deploy
    settings and IAM scopes follow them."""
    from infra.deploy_function import stage_settings_variable
    from infra.environment import DeploymentTarget
    from infra.pipeline import deploy_stages
    from lambda_deploy.settings import parse_stage_settings

    stages = [*STAGING_PROD[:1], {"name": "canary", "approval": True,
                                  "variants": [{"name": "Blue", "weight": 3},
                                               {"name": "Green", "weight": 1}]},
              STAGING_PROD[1]]
    config = load_environment("dev", config_dir=write_env(tmp_path, {**BASE, "stages": stages}))
    assert config.stage_names == ["staging", "canary", "prod"]
    names = Names(config)
    alarms = {"staging": ["a"], "canary": ["b", "c"], "prod": ["d"]}
    placement = PLACEMENTS["prod"]
    parsed = parse_stage_settings(stage_settings_variable(
        DeploymentTarget(config, names, "1"), alarms,
        {s: placement for s in config.stage_names}), names.prefix)
    assert [(v.name, v.weight) for v in parsed["canary"].variants] == [("Blue", 3.0),
                                                                         ("Green", 1.0)]
    assert names.alarm("canary", "5xx-errors", "Blue") == "fraud-mlops-dev-canary-Blue-5xx-errors"
    assert names.alarm("prod", "5xx-errors") == "fraud-mlops-dev-prod-5xx-errors"
    pipeline = [(s.name, [a.name for a in s.action]) for s in deploy_stages(
        DeploymentTarget(config, names, "1"), "fn", "topic")]
    assert pipeline == [("DeployStaging", ["Deploy-staging"]),
                        ("ApproveCanary", ["ApproveCanary"]), ("DeployCanary", ["Deploy-canary"]),
                        ("ApproveProd", ["ApproveProd"]), ("DeployProd", ["Deploy-prod"])]


def test_context_overrides_merge_stages_by_name():
    (config,) = load_environments(["dev"], {"dev": {"stages": [
        {"name": "prod", "instance_count": 3}, {"name": "extra"}]}})
    assert config.stage_names == ["staging", "prod", "extra"]
    assert config.stage("prod").instance_count == 3
    # Everything else about prod is the file's.
    assert config.stage("prod").deployment.strategy == "canary"


def test_prod_is_the_multi_account_example_and_dev_single_account():
    """dev: every stage in the pipeline's account, no role assumed, one stack. prod: a tooling
    account and a stage account each for staging and prod, each stack's provider assuming the
    provisioning role in its own account, each with its own state."""
    dev, prod = load_environment("dev"), load_environment("prod")
    assert dev.remote_accounts == [] and dev.provisioning_role is None
    assert prod.account_id == "111111111111"
    assert prod.remote_accounts == ["222222222222", "333333333333"]
    names = Names(prod)
    assert [names.target_stack(a) for a in prod.remote_accounts] == [
        "fraud-mlops-prod-222222222222-eu-west-1", "fraud-mlops-prod-333333333333-eu-west-1"]
    assert names.state_key("222222222222") == \
        "fraud-mlops/prod/222222222222-eu-west-1/terraform.tfstate"


def test_every_stack_assumes_into_its_own_account_with_its_own_state(stacks):
    # prod's prod stage also serves from eu-central-1: a stack of its own in that region.
    for stack_id, account, region in (
            ("fraud-mlops-prod", "111111111111", "eu-west-1"),
            ("fraud-mlops-prod-222222222222-eu-west-1", "222222222222", "eu-west-1"),
            ("fraud-mlops-prod-333333333333-eu-west-1", "333333333333", "eu-west-1"),
            ("fraud-mlops-prod-333333333333-eu-central-1", "333333333333", "eu-central-1")):
        (provider,) = stacks[stack_id]["provider"]["aws"]
        assert provider["allowed_account_ids"] == [account]
        assert provider["region"] == region
        assert provider["assume_role"] == [{
            "role_arn": f"arn:aws:iam::{account}:role/fraud-mlops-terraform",
            "session_name": "fraud-mlops-prod-terraform"}]
    keys = {stacks[s]["terraform"]["backend"]["s3"]["key"] for s in stacks if "prod" in s}
    assert len(keys) == 4
    (dev_provider,) = stacks["fraud-mlops-dev"]["provider"]["aws"]
    assert "assume_role" not in dev_provider and "allowed_account_ids" not in dev_provider
    assert [s for s in stacks if s.startswith("fraud-mlops-dev")] == ["fraud-mlops-dev"]


@pytest.mark.parametrize("regions, expected", [
    (["eu-west-1"], "config/prod.json.stages[1].secondary_regions[0]: 'eu-west-1' is the stage's "
                    "primary region"),
    (["il-central-9"], "config/prod.json.stages[1].secondary_regions[0]: 'il-central-9' has no "
                       "SageMaker scikit-learn image of the pinned version to serve with"),
    ([f"eu-west-{n}" for n in range(2, 7)],
     "config/prod.json.stages[1].secondary_regions: expected at most 4 entries, got 5"),
])
def test_secondary_regions_are_other_regions_with_the_image(regions, expected):
    with pytest.raises(ConfigError) as raised:
        load_environment("prod", {"stages": [{"name": "prod", "secondary_regions": regions}]})
    assert str(raised.value).startswith(expected)


def test_a_stage_with_an_experiment_captures_its_traffic():
    """The verdict pairs both variants' captured requests: no capture, no verdict ever."""
    with pytest.raises(ConfigError) as raised:
        load_environment("dev", {"stages": [{"name": "prod", "experiment": {},
                                             "data_capture_percent": 0}]})
    assert str(raised.value) == ("config/dev.json.stages[1].data_capture_percent: 0 with an "
                                 "experiment: the monitor job's verdict reads both variants' "
                                 "captured requests")


def test_a_stage_with_an_experiment_serves_from_one_region():
    with pytest.raises(ConfigError) as raised:
        load_environment("prod", {"stages": [{"name": "prod", "experiment": {}}]})
    assert str(raised.value) == ("config/prod.json.stages[1].secondary_regions: a stage with an "
                                 "experiment serves from one region (the shadow variant and its "
                                 "promotion are one region's)")


NETWORK_REGIONS_DOC = ("https://docs.aws.amazon.com/vpc/latest/privatelink/"
                       "aws-services-cross-region-privatelink-support.html")


@pytest.mark.parametrize("overrides, expected", [
    # The deploy function runs in the tooling VPC; SageMaker has no cross-Region PrivateLink
    # (NETWORK_REGIONS_DOC), so a secondary region without its network is unreachable.
    ({"network": {"regions": None}},
     "config/prod.json.stages[1].secondary_regions[0]: environment 'prod', stage 'prod': region "
     "'eu-central-1' is unreachable from the tooling VPC (network is set); add "
     "network.regions.eu-central-1.cidr (a peered VPC with that region's endpoints)"),
    ({"network": {"regions": {"us-east-1": {"cidr": "10.42.0.0/16"}}}},
     "config/prod.json.network.regions.us-east-1: environment 'prod': no stage serves from "
     "'us-east-1' (stages[].secondary_regions); remove it"),
    ({"network": {"regions": {"eu-central-1": {"cidr": "10.40.128.0/17"}}}},
     "config/prod.json.network.regions.eu-central-1.cidr: '10.40.128.0/17' overlaps cidr "
     "'10.40.0.0/16'; peered VPCs need separate ranges"),
    ({"network": {"regions": {"eu-central-1": {"cidr": "8.8.0.0/16"}}}},
     "config/prod.json.network.regions.eu-central-1.cidr: '8.8.0.0/16' is not a private"),
    ({"network": {"regions": {"eu-central-1": {"cidr": None}}}},
     "config/prod.json.network.regions.eu-central-1.cidr: expected a string, got null"),
    ({"network": {"regions": {"eu-central-1": {"cidr": "10.41.0.0/16", "peering": "x"}}}},
     "config/prod.json.network.regions.eu-central-1.peering: unknown setting; allowed: cidr"),
])
def test_every_secondary_region_is_reachable_from_the_tooling_vpc(overrides, expected):
    with pytest.raises(ConfigError) as raised:
        load_environment("prod", overrides)
    assert str(raised.value).startswith(expected)
    assert "\n" not in str(raised.value)


def test_an_environment_without_a_network_needs_no_region_network():
    config = load_environment("prod", {"network": None})
    assert config.network is None and config.stage("prod").secondary_regions == ["eu-central-1"]


@pytest.mark.parametrize("overrides, expected", [
    ({"stages": [{"name": "prod", "network": None}]},
     "config/prod.json.stages[1].network: environment 'prod', stage 'prod': network is set, so "
     "its models run in private subnets of account 333333333333: set subnet_ids and "
     "security_group_ids"),
    ({"stages": [{"name": "prod", "network": {"regions": None}}]},
     "config/prod.json.stages[1].network.regions.eu-central-1: stage 'prod' serves from "
     "'eu-central-1': its models there need subnet_ids and security_group_ids too"),
    ({"stages": [{"name": "staging", "network": {"regions": {
        "eu-central-1": {"subnet_ids": ["subnet-0123abcd"], "security_group_ids": ["sg-0123abcd"]}}}}]},
     "config/prod.json.stages[0].network.regions.eu-central-1: stage 'staging' does not serve "
     "from 'eu-central-1' (secondary_regions); remove it"),
    ({"stages": [{"name": "prod", "network": {"subnet_ids": ["subnet-x"]}}]},
     "config/prod.json.stages[1].network.subnet_ids[0]: 'subnet-x' is not a subnet ID"),
    ({"stages": [{"name": "prod", "network": {"security_group_ids": []}}]},
     "config/prod.json.stages[1].network.security_group_ids: expected at least 1 entries, got 0"),
    ({"stages": [{"name": "staging", "account_id": "111111111111"}]},
     "config/prod.json.stages[0].network: stage 'staging' is in the tooling account: its models "
     "run in the environment's network (network), not subnets of its own"),
])
def test_a_stages_models_run_in_its_accounts_subnets(overrides, expected):
    with pytest.raises(ConfigError) as raised:
        load_environment("prod", overrides)
    assert str(raised.value).startswith(expected)
