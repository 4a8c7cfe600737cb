"""The seams between infrastructure, jobs and deploy step: names each side must agree on.

Each part is tested on its own elsewhere; these tests fail when one side renames something the
other side still uses (artifact names, files, output variables, settings).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from lambda_deploy.artifact import MANIFEST

ROOT = Path(__file__).resolve().parent.parent


def pipeline(stacks) -> dict:
    (resource,) = stacks["fraud-mlops-dev"]["resource"]["aws_codepipeline"].values()
    return {stage["name"]: stage["action"][0] for stage in resource["stage"]}


def buildspec(name: str) -> dict:
    return yaml.safe_load((ROOT / "pipeline_src" / "buildspecs" / f"{name}.yml").read_text())


def test_artifacts_flow_from_train_to_test_to_deploy(stacks):
    actions = pipeline(stacks)
    train_out = actions["Train"]["output_artifacts"]
    assert actions["Test"]["input_artifacts"] == ["SourceOutput", *train_out]
    test_out = actions["Test"]["output_artifacts"]
    assert actions["DeployStaging"]["input_artifacts"] == test_out
    assert actions["DeployProd"]["input_artifacts"] == test_out
    # The test job finds the Train artifact where CodeBuild puts a secondary source.
    command = " ".join(buildspec("test")["phases"]["build"]["commands"])
    assert f"$CODEBUILD_SRC_DIR_{train_out[0]}" in command.replace("{", "").replace(":-", " ")


def test_both_jobs_publish_the_manifest_the_deploy_step_reads():
    for name in ("train", "test"):
        spec = buildspec(name)
        assert MANIFEST in spec["artifacts"]["files"]
        command = " ".join(spec["phases"]["build"]["commands"])
        assert f'--output-dir "$CODEBUILD_SRC_DIR/{spec["artifacts"]["base-directory"]}"' in command


def test_approval_message_uses_variables_the_deploy_step_publishes(stacks):
    custom_data = pipeline(stacks)["ApproveProd"]["configuration"]["CustomData"]
    used = set(re.findall(r"#\{DeployStaging\.(\w+)\}", custom_data))
    assert used
    handler = ast.parse((ROOT / "lambda_deploy" / "handler.py").read_text())
    published = {key.value for node in ast.walk(handler) if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "variables" for t in node.targets)
                 and isinstance(node.value, ast.Dict)
                 for key in node.value.keys}
    assert used <= published


def test_deploy_step_accepts_the_settings_infrastructure_writes(stacks):
    from lambda_deploy.settings import load_settings, parse_user_parameters

    function = stacks["fraud-mlops-dev"]["resource"]["aws_lambda_function"][
        "deploy_function_F2AD761A"]
    # Terraform references (role ARN, bucket name) resolve at apply time.
    environ = {key: re.sub(r"\$\{[^}]+\}", "resolved", value)
               for key, value in function["environment"]["variables"].items()}
    settings = load_settings(environ)
    actions = pipeline(stacks)
    for stage_name, action in (("staging", "DeployStaging"), ("prod", "DeployProd")):
        stage = parse_user_parameters(actions[action]["configuration"]["UserParameters"],
                                      settings)
        assert stage.stage == stage_name
        assert stage.endpoint_name == f"fraud-mlops-dev-{stage_name}"
        alarms = {a["alarm_name"] for a in
                  stacks["fraud-mlops-dev"]["resource"]["aws_cloudwatch_metric_alarm"].values()
                  if a["dimensions"]["EndpointName"] == stage.endpoint_name
                  and a["namespace"] == "AWS/SageMaker"}
        assert set(stage.alarm_names) == alarms


def test_the_monitor_job_reads_and_writes_the_experiment_state_the_controller_keeps():
    """The job's zip has no lambda_deploy: it names the deploy function's experiment steps,
    the verdict file, the start record's fields and the state's variable itself."""
    from dataclasses import fields

    from lambda_deploy import experiment
    from pipeline_src.jobs import monitor
    from pipeline_src.jobs.monitor_settings import VARIABLES

    assert (monitor.EXPERIMENT_STARTED, monitor.EXPERIMENT_DECIDED, monitor.EXPERIMENT_ENDED,
            monitor.EXPERIMENT_VERDICT) == (experiment.STARTED, experiment.DECIDED,
                                            experiment.ENDED, experiment.VERDICT)
    # The live phase: its record (share, start) and decision, and the live verdict's file.
    assert (monitor.EXPERIMENT_LIVE, monitor.EXPERIMENT_LIVE_DECIDED,
            monitor.EXPERIMENT_LIVE_VERDICT) == (experiment.LIVE, experiment.LIVE_DECIDED,
                                                 experiment.LIVE_VERDICT)
    assert set(monitor.EXPERIMENT_FIELDS) <= {f.name for f in fields(experiment.Experiment)}
    assert VARIABLES["experiments_uri"] == experiment.ENV_VAR


def test_the_monitor_finds_a_secondary_regions_package_by_the_deploy_steps_tag():
    """A secondary region's model is a copy of the package's container: the monitor job (whose
    zip has no lambda_deploy) reads the package ARN from the config tag the deploy step writes."""
    from lambda_deploy.deploy import TAG_PACKAGE_ARN
    from pipeline_src.jobs import monitor

    assert monitor.TAG_PACKAGE_ARN == TAG_PACKAGE_ARN
