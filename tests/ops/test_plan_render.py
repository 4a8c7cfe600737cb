"""`python main.py diff --plan`: a real plan's JSON (terraform show -json) as the same review.

The fixture is a hand-written plan in Terraform's JSON format (format 1.2): a create, in-place
updates, a replacement forced by a name change, a delete, a `moved` block, a data read, values
known only after apply, a sensitive value, output changes and drift.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops import plan_render, synth_diff

FIXTURE = Path(__file__).parent / "fixtures" / "plan_fraud-mlops-dev.json"


@pytest.fixture(scope="module")
def stack():
    return plan_render.render_plan(plan_render.load_plan(FIXTURE), "fraud-mlops-dev")


def by_address(stack):
    return {c.address: c for c in stack.changes}


def test_actions_are_classified(stack):
    actions = {a: c.action for a, c in by_address(stack).items()}
    assert actions == {
        "aws_cloudwatch_metric_alarm.alarms_prod_invocation_errors_7D1E2F3A": "create",
        "aws_cloudwatch_metric_alarm.alarms_prod_model_latency_3401C550": "delete",
        "aws_iam_role_policy.deploy_role_deploy_11BFC138": "update",
        "aws_iam_role_policy.monitor_role_read_5C6D7E8F": "create",
        "aws_lambda_function.deploy_function_F2AD761A": "update",
        "aws_s3_bucket_public_access_block.artifact_store_public_access_block_C785816C": "update",
        "aws_sagemaker_model_package_group.model_registry_group_2F926E7F": "replace",
        "aws_sns_topic.notifications_topic_9813ADB4": "move",
        "aws_ssm_parameter.webhook_token_0A1B2C3D": "create",
    }  # the no-op KMS key and the data source read are not changes


def test_replacement_names_the_attribute_that_forces_it(stack):
    change = by_address(stack)["aws_sagemaker_model_package_group.model_registry_group_2F926E7F"]
    assert change.reason == "forced by `model_package_group_name`"
    forced = [a.path for a in change.attributes if a.forces_replacement]
    assert forced == ["model_package_group_name"]


def test_security_relevant_section_matches_the_synth_diff_rules(stack):
    found = {(c.address, f) for c in stack.changes for f in c.findings}
    assert found == {
        ("aws_cloudwatch_metric_alarm.alarms_prod_model_latency_3401C550",
         "alarm `fraud-mlops-dev-prod-model-latency` removed"),
        ("aws_iam_role_policy.deploy_role_deploy_11BFC138",
         "`policy`: Allow statement `DeployOwnEndpoints` widened: new actions "
         "`sagemaker:DeleteEndpoint`; resource widened to `*`"),
        ("aws_iam_role_policy.monitor_role_read_5C6D7E8F",
         "`policy` added and its content is known only after apply: review it by hand "
         "(the synth diff shows it)"),
        ("aws_lambda_function.deploy_function_F2AD761A",
         "deploy rollback alarms removed for stage `prod`: `fraud-mlops-dev-prod-model-latency`"),
        ("aws_s3_bucket_public_access_block.artifact_store_public_access_block_C785816C",
         "S3 public access block: `restrict_public_buckets` turned off"),
    }


def test_markdown_shows_unknowns_hides_sensitive_values_and_exit_3(tmp_path):
    out = tmp_path / "plan.md"
    proc = subprocess.run([sys.executable, "main.py", "diff", "--plan", f"fraud-mlops-dev={FIXTURE}",
                           "-o", str(out)], cwd=synth_diff.REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    md = out.read_text()
    assert "### `fraud-mlops-dev` (plan): 1 replaced, 3 added, 1 removed, 3 changed, 1 moved" in md
    assert "#### ⚠️ Security-relevant changes (5)" in md
    assert "  - `timeout`: `120` → `300`" in md
    assert "  - `last_modified`: `2026-11-01T10:00:00.000+0000` → *(known after apply)*" in md
    assert ("- `aws_sns_topic.topic_9813ADB4` → `aws_sns_topic.notifications_topic_9813ADB4`: "
            "moved (`moved` block); no replacement") in md
    assert "- output `model_package_group` changed" in md
    assert "(drift): `aws_s3_bucket_versioning.artifact_store_versioning_C65A524B`" in md
    assert "s3cr3t" not in md  # the SSM parameter's sensitive value never reaches the comment
    assert str(FIXTURE.parent) not in md


def test_sensitive_values_are_masked_before_any_rule_sees_them():
    plan = json.loads(FIXTURE.read_text())
    ssm = next(r for r in plan["resource_changes"] if r["type"] == "aws_ssm_parameter")
    ssm["change"]["actions"] = ["update"]
    ssm["change"]["before"] = dict(ssm["change"]["after"], value="old-secret")
    ssm["change"]["before_sensitive"] = {"value": True}
    change = by_address(plan_render.render_plan(plan, "s"))["aws_ssm_parameter.webhook_token_0A1B2C3D"]
    assert [(a.path, a.before, a.after) for a in change.attributes if a.path == "value"] == []
    assert "old-secret" not in json.dumps(change.before) and "s3cr3t" not in json.dumps(change.after)


def test_plan_and_synth_diff_in_one_report(tmp_path, synth_outdir):
    out = tmp_path / "review.md"
    rc = synth_diff.main(["--base", str(synth_outdir), "--head", str(synth_outdir),
                          "--plan", f"fraud-mlops-dev={FIXTURE}", "--allow-security-changes",
                          "-o", str(out)])
    md = out.read_text()
    assert rc == 0 and "allowed for this change" in md
    assert "### `fraud-mlops-dev` (plan)" in md and "Plan: `fraud-mlops-dev`" in md


def test_no_change_plan_is_empty(tmp_path):
    plan = json.loads(FIXTURE.read_text())
    plan["resource_changes"] = [r for r in plan["resource_changes"] if r["change"]["actions"] == ["no-op"]
                                and "previous_address" not in r]
    plan["output_changes"] = {}
    plan["resource_drift"] = []
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = tmp_path / "review.md"
    assert synth_diff.main(["--plan", str(path), "-o", str(out)]) == 0
    assert "No infrastructure changes." in out.read_text()


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"resource_changes": []}', "is not a Terraform plan in JSON (no format_version)"),
    (None, "not found"),
])
def test_bad_plan_input_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    proc = subprocess.run([sys.executable, "main.py", "diff", "--plan", str(path)],
                          cwd=synth_diff.REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("plan, message", [
    ({"format_version": "2.0"}, 'format_version "2.0" is not supported; this renders '
                                "Terraform's plan format 1.x"),
    ({"format_version": 1.2}, "format_version 1.2 is not supported"),
    ({"format_version": "1.2", "resource_changes": {}},
     "resource_changes: expected a list, got {}"),
    ({"format_version": "1.2", "resource_changes": [{"address": "a", "change": []}]},
     "resource_changes.0.change: expected an object, got []"),
    ({"format_version": "1.2", "resource_changes": [{"address": "a",
                                                     "change": {"actions": "create"}}]},
     'resource_changes.0.change.actions: expected a list, got "create"'),
    ({"format_version": "1.2", "resource_changes": [{"change": {}}]},
     "resource_changes.0.address: missing"),
    ({"format_version": "1.2", "output_changes": {"o": {"actions": [1]}}},
     "output_changes.o.actions.0: expected a string, got 1"),
])
def test_plans_this_renderer_does_not_understand_are_refused(tmp_path, plan, message, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert synth_diff.main(["--plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
