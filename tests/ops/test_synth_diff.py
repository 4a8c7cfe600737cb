"""`python main.py diff`: the credential-free review of a change to the synthesized stacks.

Constructed before/after stacks (tests/ops/fixtures/synth_base_stack.json, edited per test) pin
down each security rule; the real synthesized stacks check it works on what the project emits.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops import synth_diff

FIXTURES = Path(__file__).parent / "fixtures"
STACK = "demo-dev"
R = "resource"


@pytest.fixture
def base_doc() -> dict:
    return json.loads((FIXTURES / "synth_base_stack.json").read_text())


def write_outdir(folder: Path, stacks: dict[str, dict]) -> Path:
    manifest = {"version": "0.21.0", "stacks": {}}
    for name, doc in stacks.items():
        path = folder / "stacks" / name / "cdk.tf.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2))
        manifest["stacks"][name] = {"name": name, "synthesizedStackPath": f"stacks/{name}/cdk.tf.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def run_diff(tmp_path: Path, before: dict, after: dict, *extra: str) -> tuple[int, str, str]:
    base = write_outdir(tmp_path / "base", {STACK: before})
    head = write_outdir(tmp_path / "head", {STACK: after})
    out = tmp_path / "review.md"
    proc = subprocess.run(
        [sys.executable, "main.py", "diff", "--base", str(base), "--head", str(head), "-o", str(out), *extra],
        cwd=Path(synth_diff.REPO_ROOT), capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if k != synth_diff.ALLOW_ENV})
    return proc.returncode, out.read_text() if out.exists() else "", proc.stderr


def diff(before: dict, after: dict):
    """The report for one stack, in-process (fast path for rule tests)."""
    return synth_diff.compare_stack(STACK, synth_diff.stack_items(before), synth_diff.stack_items(after))


def findings(before: dict, after: dict) -> list[str]:
    return [f for c in diff(before, after).changes for f in c.findings]


def edit_policy(doc: dict, rtype: str, rid: str, edit, attr: str = "policy") -> None:
    policy = json.loads(doc[R][rtype][rid][attr])
    edit(policy["Statement"])
    doc[R][rtype][rid][attr] = json.dumps(policy, indent=2)


def statement(statements: list, sid: str) -> dict:
    return next(s for s in statements if s.get("Sid") == sid)


TRAIN_POLICY = ("aws_iam_role_policy", "train_role_build_E0C2BD16")


# ---- end to end through main.py: exit status and the Markdown ------------------------------

def test_no_change_gives_an_empty_summary_and_exit_0(tmp_path, base_doc):
    after = copy.deepcopy(base_doc)
    after["//"]["metadata"]["version"] = "9.9.9"  # metadata blocks are not infrastructure
    rc, md, err = run_diff(tmp_path, base_doc, after)
    assert rc == 0, err
    assert "No infrastructure changes." in md
    for section in ("Security-relevant", "Added", "Removed", "Changed", "Replaced"):
        assert section not in md


def test_iam_widening_is_security_relevant_and_fails_with_exit_3(tmp_path, base_doc):
    after = copy.deepcopy(base_doc)

    def widen(statements):
        statement(statements, "ReadWriteArtifacts")["Action"].append("s3:DeleteObject")
        statement(statements, "UseKey")["Action"] = "kms:*"
        statement(statements, "UseKey")["Resource"] = "*"
        del statement(statements, "PassExecutionRole")["Condition"]

    edit_policy(after, *TRAIN_POLICY, widen)
    rc, md, err = run_diff(tmp_path, base_doc, after)
    assert rc == 3
    assert "security-relevant change" in err and "Traceback" not in err
    security = md.split("Security-relevant changes")[1].split("####")[0]
    address = "aws_iam_role_policy.train_role_build_E0C2BD16"
    assert f"`{address}`: `policy`: Allow statement `ReadWriteArtifacts` widened: new actions `s3:DeleteObject`" in security
    assert "Allow statement `UseKey` widened: new actions `kms:*` (wildcard `kms:*`); resource widened to `*`" in security
    assert ("Allow statement `PassExecutionRole` widened: condition dropped: "
            "`StringEquals iam:PassedToService` = `sagemaker.amazonaws.com`") in security
    assert "⛔ **3 security-relevant changes.**" in md
    # The attribute diff names statements by Sid and list members by value, not by position.
    assert "- `policy ▸ Statement[UseKey].Resource`: *(absent)* → `*`" in md
    assert ("- `policy ▸ Statement[ReadWriteArtifacts].Action[s3:DeleteObject]`: *(absent)* → "
            "`s3:DeleteObject`") in md


def test_security_changes_can_be_allowed_by_flag_or_environment(tmp_path, base_doc):
    after = copy.deepcopy(base_doc)
    del after[R]["aws_cloudwatch_metric_alarm"]["alarms_prod_errors_5xx_26BBE00A"]
    rc, md, _ = run_diff(tmp_path / "a", base_doc, after, "--allow-security-changes")
    assert rc == 0 and "allowed for this change" in md
    os.environ[synth_diff.ALLOW_ENV] = "1"
    try:
        assert synth_diff.main(["--base", str(tmp_path / "a" / "base"), "--head",
                                str(tmp_path / "a" / "head"), "-o", str(tmp_path / "x.md")]) == 0
    finally:
        del os.environ[synth_diff.ALLOW_ENV]
    assert synth_diff.main(["--base", str(tmp_path / "a" / "base"), "--head",
                            str(tmp_path / "a" / "head"), "-o", str(tmp_path / "x.md")]) == 3


def test_moved_logical_id_is_reported_as_a_replacement_not_add_and_remove(tmp_path, base_doc):
    old_id, new_id = "artifact_store_bucket_C02EB893", "storage_bucket_9A8B7C6D"
    after = json.loads(json.dumps(base_doc).replace(old_id, new_id))
    rc, md, _ = run_diff(tmp_path, base_doc, after)
    assert rc == 0  # a bucket re-created is disruptive, not a security weakening
    assert (f"- `aws_s3_bucket.{old_id}` → `aws_s3_bucket.{new_id}`: logical ID moved, so "
            "Terraform destroys the old resource and creates a new one") in md
    assert "#### Replaced (destroyed and re-created) (1)" in md
    # Dependents only changed the reference: compared after following the move, they are equal.
    assert "Added" not in md and "Removed (" not in md and "Changed in place" not in md
    assert "output `artifact_bucket` changed" not in md


def test_moved_kms_key_is_security_relevant(base_doc):
    after = json.loads(json.dumps(base_doc).replace("encryption_key_EEB70057", "crypto_key_1234ABCD"))
    report = diff(base_doc, after)
    replaced = [c for c in report.changes if c.action == "replace"]
    assert [c.address for c in replaced] == ["aws_kms_key.crypto_key_1234ABCD"]
    assert any("KMS key replaced" in f for f in replaced[0].findings)


def test_output_is_deterministic_and_has_no_absolute_paths(tmp_path, base_doc):
    after = copy.deepcopy(base_doc)
    after[R]["aws_lambda_function"]["deploy_function_F2AD761A"]["timeout"] = 300
    first = run_diff(tmp_path / "1", base_doc, after)[1]
    second = run_diff(tmp_path / "2", base_doc, after)[1]
    assert first.replace("`1/", "`2/") == second or first == second
    assert str(tmp_path) not in first and "/tmp" not in first
    assert "- `aws_lambda_function.deploy_function_F2AD761A`\n  - `timeout`: `120` → `300`" in first


# ---- the rules, one at a time --------------------------------------------------------------

def test_statement_added_and_tightening_not_flagged_but_reshuffle_is_not_widening(base_doc):
    added = copy.deepcopy(base_doc)
    edit_policy(added, *TRAIN_POLICY, lambda s: s.append(
        {"Sid": "Describe", "Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob", "Resource": "*"}))
    assert findings(base_doc, added) == [
        "`policy`: Allow statement added: actions `sagemaker:DescribeTrainingJob` on `*` "
        "with no condition (wildcards: `*`)"]

    tightened = copy.deepcopy(base_doc)
    edit_policy(tightened, *TRAIN_POLICY, lambda s: statement(s, "ReadWriteArtifacts")["Action"].remove("s3:PutObject"))
    assert findings(base_doc, tightened) == []
    assert [c.action for c in diff(base_doc, tightened).changes] == ["update"]

    def split(statements):
        rw = statement(statements, "ReadWriteArtifacts")
        rw["Action"] = ["s3:GetObject"]
        statements.append({"Sid": "Write", "Effect": "Allow", "Action": "s3:PutObject", "Resource": rw["Resource"]})

    reshuffled = copy.deepcopy(base_doc)
    edit_policy(reshuffled, *TRAIN_POLICY, split)
    assert findings(base_doc, reshuffled) == []


def test_resource_broadened_and_condition_loosened(base_doc):
    after = copy.deepcopy(base_doc)

    def edit(statements):
        statement(statements, "ReadWriteArtifacts")["Resource"] = ["${aws_s3_bucket.artifact_store_bucket_C02EB893.arn}/*"]
        statement(statements, "PassExecutionRole")["Condition"]["StringEquals"]["iam:PassedToService"] = [
            "sagemaker.amazonaws.com", "lambda.amazonaws.com"]

    edit_policy(after, *TRAIN_POLICY, edit)
    assert findings(base_doc, after) == [
        "`policy`: Allow statement `ReadWriteArtifacts` widened: broader resources "
        "`${aws_s3_bucket.artifact_store_bucket_C02EB893.arn}/*`",
        "`policy`: Allow statement `PassExecutionRole` widened: condition loosened: "
        "`StringEquals iam:PassedToService` now also allows `lambda.amazonaws.com`",
    ]


def test_deny_removed_and_trust_policy_principal_widened(base_doc):
    after = copy.deepcopy(base_doc)
    edit_policy(after, "aws_s3_bucket_policy", "artifact_store_policy_DBABFD92", lambda s: s.clear())
    edit_policy(after, "aws_iam_role", "train_role_80B18542",
                lambda s: s[0]["Principal"].update({"AWS": "*"}), attr="assume_role_policy")
    found = findings(base_doc, after)
    assert "`policy`: Deny statement removed (`DenyInsecureTransport`: `s3:*`)" in found
    assert ("`assume_role_policy`: trust policy statement `sts:AssumeRole` widened: "
            "trust policy principal widened: everyone (`*`)") in found


def test_policy_document_data_source_statement_added(base_doc):
    after = copy.deepcopy(base_doc)
    after["data"]["aws_iam_policy_document"] = {"extra_ABC": {"statement": [
        {"effect": "Allow", "actions": ["s3:*"], "resources": ["*"]}]}}
    assert findings(base_doc, after) == [
        "`statement`: Allow statement added: actions `s3:*` on `*` with no condition (wildcards: `*`, `s3:*`)"]


def test_encryption_removed_or_downgraded(base_doc):
    after = copy.deepcopy(base_doc)
    rule = after[R]["aws_s3_bucket_server_side_encryption_configuration"]["artifact_store_encryption_0048EFDE"]["rule"][0]
    rule["apply_server_side_encryption_by_default"] = {"sse_algorithm": "AES256"}
    del after[R]["aws_sns_topic"]["notifications_topic_9813ADB4"]["kms_master_key_id"]
    log_group = after[R]["aws_cloudwatch_log_group"]["train_logs_319ACB49"]
    del log_group["kms_key_id"]
    log_group["retention_in_days"] = 7
    project = after[R]["aws_codebuild_project"]["train_project_E065D760"]
    del project["encryption_key"]
    project["environment"]["privileged_mode"] = True
    by_address = {c.address: c.findings for c in diff(base_doc, after).changes}
    assert by_address["aws_s3_bucket_server_side_encryption_configuration.artifact_store_encryption_0048EFDE"] == [
        "`rule[0].apply_server_side_encryption_by_default.kms_master_key_id` removed: no longer "
        "encrypted with the customer-managed key",
        "default encryption changed from `aws:kms` to `AES256`"]
    assert by_address["aws_sns_topic.notifications_topic_9813ADB4"] == [
        "`kms_master_key_id` removed: no longer encrypted with the customer-managed key"]
    assert by_address["aws_cloudwatch_log_group.train_logs_319ACB49"] == [
        "`kms_key_id` removed: no longer encrypted with the customer-managed key",
        "log retention reduced from 30 to 7 days"]
    assert by_address["aws_codebuild_project.train_project_E065D760"] == [
        "`encryption_key` removed: no longer encrypted with the customer-managed key",
        "CodeBuild `privileged_mode` turned on (builds get root on the Docker host)"]


def test_bucket_encryption_configuration_removed(base_doc):
    after = copy.deepcopy(base_doc)
    del after[R]["aws_s3_bucket_server_side_encryption_configuration"]
    assert findings(base_doc, after) == ["bucket default encryption configuration removed"]


def test_kms_rotation_disabled_and_key_deleted(base_doc):
    after = copy.deepcopy(base_doc)
    after[R]["aws_kms_key"]["encryption_key_EEB70057"]["enable_key_rotation"] = False
    assert findings(base_doc, after) == ["KMS key rotation disabled"]
    del after[R]["aws_kms_key"]
    assert findings(base_doc, after)[0].startswith("KMS key removed: AWS schedules it for deletion")


def test_public_access_block_and_versioning(base_doc):
    after = copy.deepcopy(base_doc)
    after[R]["aws_s3_bucket_public_access_block"]["artifact_store_public_access_block_C785816C"][
        "restrict_public_buckets"] = False
    after[R]["aws_s3_bucket_versioning"]["artifact_store_versioning_C65A524B"][
        "versioning_configuration"]["status"] = "Suspended"
    assert findings(base_doc, after) == [
        "S3 public access block: `restrict_public_buckets` turned off",
        "bucket versioning `Enabled` → `Suspended`"]
    del after[R]["aws_s3_bucket_public_access_block"]
    assert "S3 public access block removed" in findings(base_doc, after)


def test_alarm_removed_and_rollback_alarms_emptied(base_doc):
    after = copy.deepcopy(base_doc)
    del after[R]["aws_cloudwatch_metric_alarm"]["alarms_prod_model_latency_3401C550"]
    function = after[R]["aws_lambda_function"]["deploy_function_F2AD761A"]
    settings = json.loads(function["environment"]["variables"]["STAGE_SETTINGS"])
    settings["prod"]["alarm_names"] = ["demo-dev-prod-5xx-errors"]
    settings["staging"]["alarm_names"] = []
    function["environment"]["variables"]["STAGE_SETTINGS"] = json.dumps(settings)
    assert findings(base_doc, after) == [
        "alarm `demo-dev-prod-model-latency` removed",
        "deploy rollback alarms removed for stage `prod`: `demo-dev-prod-model-latency`",
        "deploy rollback alarms emptied for stage `staging`: a bad deployment is no longer "
        "rolled back automatically"]


def test_backend_and_new_stack_are_reported(tmp_path, base_doc):
    after = copy.deepcopy(base_doc)
    after["terraform"]["backend"] = {"s3": {"bucket": "state", "key": "demo-dev.tfstate", "region": "eu-west-1"}}
    notes = diff(base_doc, after).notes
    assert notes == ["Terraform backend configuration (where the state lives) changed"]
    report = synth_diff.compare({}, {STACK: synth_diff.stack_items(base_doc)}, "t")
    assert report.stacks[0].notes[0] == "new stack"
    assert report.security_count() > 0  # every statement of a new stack is an added grant


# ---- bad input: one line, exit 2, no traceback ---------------------------------------------

@pytest.mark.parametrize("make_args, message", [
    (lambda t: ["--base", str(t / "missing")], "is neither a folder nor a git ref"),
    (lambda t: ["--base", "no-such-branch-xyz"], "unknown git ref 'no-such-branch-xyz'"),
    (lambda t: ["--base", str(t / "bad"), "--head", str(t / "bad")], "is not valid JSON"),
    (lambda t: ["--base", str(t)], "holds no synthesized stacks"),
    (lambda t: [], "nothing to review"),
    (lambda t: ["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make_args, message):
    bad = tmp_path / "bad" / "stacks" / "s"
    bad.mkdir(parents=True)
    (bad / "cdk.tf.json").write_text("{not json")
    proc = subprocess.run([sys.executable, "main.py", "diff", *make_args(tmp_path)],
                          cwd=synth_diff.REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# ---- a git ref as the base: synthesized in a temporary worktree -----------------------------

FAKE_APP = '''
import json, os, sys
from pathlib import Path
out = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
doc = json.loads(Path("stack.json").read_text())
(out / "stacks" / "demo-dev").mkdir(parents=True, exist_ok=True)
(out / "stacks" / "demo-dev" / "cdk.tf.json").write_text(json.dumps(doc))
(out / "manifest.json").write_text(json.dumps({"stacks": {"demo-dev": {
    "synthesizedStackPath": "stacks/demo-dev/cdk.tf.json"}}}))
'''


def committed_fake_app(repo: Path, doc: dict) -> Path:
    """A git repository whose one commit holds FAKE_APP and the stack it synthesizes."""
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a],  # noqa: E731
                                    cwd=repo, check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    (repo / "main.py").write_text(FAKE_APP)
    (repo / "stack.json").write_text(json.dumps(doc))
    git("add", ".")
    git("commit", "-qm", "base")
    return repo


def test_git_ref_base_is_synthesized_in_a_temporary_worktree(tmp_path, base_doc, monkeypatch):
    repo = committed_fake_app(tmp_path / "repo", base_doc)
    after = copy.deepcopy(base_doc)
    after[R]["aws_kms_key"]["encryption_key_EEB70057"]["enable_key_rotation"] = False
    head = write_outdir(tmp_path / "head", {STACK: after})
    monkeypatch.setattr(synth_diff, "REPO_ROOT", repo)
    out = tmp_path / "review.md"
    assert synth_diff.main(["--base", "main", "--head", str(head), "-o", str(out)]) == 3
    text = out.read_text()
    assert "Synth diff: `main` (synthesized from git) →" in text
    assert "`aws_kms_key.encryption_key_EEB70057`: KMS key rotation disabled" in text
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1  # the temporary worktree is gone


# ---- the project's real stacks --------------------------------------------------------------

def test_real_stacks_against_themselves_have_no_changes(synth_outdir, tmp_path):
    out = tmp_path / "review.md"
    assert synth_diff.main(["--base", str(synth_outdir), "--head", str(synth_outdir), "-o", str(out)]) == 0
    assert "No infrastructure changes." in out.read_text()


def test_real_stacks_weakened_are_caught(synth_outdir, tmp_path):
    head = tmp_path / "head"
    shutil.copytree(synth_outdir, head)
    names = sorted(p.name for p in (head / "stacks").iterdir())
    path = head / "stacks" / names[0] / "cdk.tf.json"
    doc = json.loads(path.read_text())
    alarms = doc[R]["aws_cloudwatch_metric_alarm"]
    removed_alarm = sorted(alarms)[0]
    del alarms[removed_alarm]
    for key in doc[R]["aws_kms_key"].values():
        key["enable_key_rotation"] = False
    path.write_text(json.dumps(doc))
    out = tmp_path / "review.md"
    assert synth_diff.main(["--base", str(synth_outdir), "--head", str(head), "-o", str(out)]) == 3
    text = out.read_text()
    assert f"`aws_cloudwatch_metric_alarm.{removed_alarm}`: alarm `" in text
    assert "KMS key rotation disabled" in text
    assert f"Unchanged: `{names[1]}`" in text


def test_long_reports_drop_attribute_details_before_security_findings(base_doc, tmp_path):
    after = copy.deepcopy(base_doc)
    for i in range(60):
        after[R]["aws_codebuild_project"]["train_project_E065D760"]["environment"]["environment_variable"].append(
            {"name": f"VAR_{i:02d}", "type": "PLAINTEXT", "value": "x" * 80})
    after[R]["aws_kms_key"]["encryption_key_EEB70057"]["enable_key_rotation"] = False
    base = write_outdir(tmp_path / "base", {STACK: base_doc})
    head = write_outdir(tmp_path / "head", {STACK: after})
    out = tmp_path / "review.md"
    assert synth_diff.main(["--base", str(base), "--head", str(head), "-o", str(out), "--max-chars", "2500"]) == 3
    text = out.read_text()
    assert len(text) <= 2500
    assert "KMS key rotation disabled" in text and "_Attribute details left out to fit._" in text
    assert "VAR_0" not in text


def test_a_broken_working_tree_is_not_blamed_on_the_base(tmp_path, base_doc, monkeypatch, capsys):
    repo = committed_fake_app(tmp_path / "repo", base_doc)
    (repo / "stack.json").write_text("{broken")  # the uncommitted change breaks synthesis
    monkeypatch.setattr(synth_diff, "REPO_ROOT", repo)
    assert synth_diff.main(["--base", "main"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: working tree: synthesis failed: json.decoder.JSONDecodeError")
    assert "base" not in err and err.count("\n") == 1


@pytest.mark.parametrize("manifest, message", [
    ([], "manifest.json: expected a JSON object, got list"),
    ({"stacks": []}, "manifest.json: stacks: expected a JSON object, got list"),
    ({"stacks": {"s": "x"}}, "manifest.json: stacks.s: expected a JSON object, got str"),
    ({"stacks": {"s": {"synthesizedStackPath": "../../etc/passwd"}}},
     "manifest.json: stacks.s.synthesizedStackPath: expected a path inside"),
    ({"stacks": {"s": {"synthesizedStackPath": 5}}},
     "manifest.json: stacks.s.synthesizedStackPath: expected a path inside"),
])
def test_malformed_manifest_is_bad_input_not_an_internal_error(tmp_path, manifest, message,
                                                               capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert synth_diff.main(["--base", str(out), "--head", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("doc, message", [
    ({"resource": []}, "stack s: cdk.tf.json: resource: expected a JSON object, got list"),
    ({"resource": {"aws_s3_bucket": [1]}},
     "stack s: cdk.tf.json: resource.aws_s3_bucket: expected a JSON object, got list"),
    ({"terraform": "x"}, "stack s: cdk.tf.json: terraform: expected a JSON object, got str"),
    ({"output": 3}, "stack s: cdk.tf.json: output: expected a JSON object, got int"),
])
def test_malformed_stack_json_is_bad_input(tmp_path, doc, message, capsys):
    out = write_outdir(tmp_path / "out", {"s": doc})
    assert synth_diff.main(["--base", str(out), "--head", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_file_is_written_whole_or_not_at_all(tmp_path, base_doc, capsys):
    out = write_outdir(tmp_path / "out", {STACK: base_doc})
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert synth_diff.main(["--base", str(out), "--head", str(out), "-o", str(folder)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert list(folder.iterdir()) == []
    assert synth_diff.main(["--base", str(out), "--head", str(out), "--max-chars", "10"]) == 2
    assert "--max-chars 10: at least 1000" in capsys.readouterr().err
