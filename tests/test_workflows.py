"""The GitHub Actions workflows are valid, hardened, and only call things that exist here.

Checks what a broken workflow would otherwise reveal only on GitHub: YAML that parses, the
structure Actions requires, shell that parses, and every script, make target and
`python main.py` command (with its options) that a step runs. And what a weak one would reveal
only when attacked: actions pinned to a commit, no persisted checkout credentials, per-job
least permissions, and zizmor's audit (offline) with no finding.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import main as entry_point
from ops import synth_diff

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ZIZMOR = ROOT / ".venv" / "bin" / "zizmor"


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job["steps"]:
            yield job_id, step


def run_blocks(doc: dict) -> list[str]:
    return [step["run"] for _, step in steps(doc) if "run" in step]


def make_targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M)}


def commands(script: str) -> list[list[str]]:
    """Simple commands of a run block, ${{ }} expressions replaced, continuations joined."""
    script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", script).replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            if words:
                out.append(words)
    return out


def test_there_are_pull_request_comment_and_deploy_workflows():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "pr-comment.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_structure(path):
    doc = load(path)
    assert doc["name"] and doc["on"] and doc["jobs"]
    assert "permissions" in doc, "declare least-privilege permissions at the top"
    for job_id, job in doc["jobs"].items():
        assert job.get("runs-on"), job_id
        assert job.get("timeout-minutes"), f"{job_id}: set timeout-minutes"
        assert job.get("steps"), job_id
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in doc["jobs"], f"{job_id} needs unknown job {need}"
    for job_id, step in steps(doc):
        assert ("uses" in step) != ("run" in step), f"{job_id}: a step either uses an action or runs"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit_with_their_version(path):
    """A tag can be moved to other code; a commit SHA cannot. The comment is what Dependabot updates."""
    lines = [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) == sum("uses" in step for _, step in steps(load(path)))
    for line in lines:
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+", line), \
            f"{path.name}: pin to a full commit SHA with '# vX.Y.Z': {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path):
    doc = load(path)
    assert doc["permissions"] == {}, "no permissions at the top: each job asks for what it needs"
    for job_id, job in doc["jobs"].items():
        assert isinstance(job.get("permissions"), dict) and job["permissions"], f"{job_id}: declare permissions"
        assert "write-all" not in str(job["permissions"])
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        assert writes <= {"id-token", "pull-requests"}, f"{job_id}: writes {writes}"
    for job_id, step in steps(doc):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, \
                f"{job_id}: checkout must not leave the token in .git/config (persist-credentials: false)"


def test_zizmor_finds_nothing_offline():
    """zizmor's audits of the workflows and dependabot.yml (template injection, excessive
    permissions, dangerous triggers, unpinned actions, credential persistence, update cooldown,
    ...) at every severity; kept findings only via zizmor.yml."""
    assert ZIZMOR.exists(), "zizmor is not installed: run `make setup`"
    proc = subprocess.run([str(ZIZMOR), "--offline", "--persona", "auditor", "--config", "zizmor.yml",
                           "--format", "json", ".github"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    findings = json.loads(proc.stdout)
    assert findings == [], "\n".join(f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} "
                                      f"{[l['symbolic']['key'] for l in f['locations']]}" for f in findings)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_zizmor_suppression_has_a_reason():
    lines = (ROOT / "zizmor.yml").read_text().splitlines()
    ignores = [i for i, line in enumerate(lines) if re.match(r"\s+- [\w.-]+\.yml(:\d+)*\s*$", line)]
    rules = yaml.safe_load((ROOT / "zizmor.yml").read_text())["rules"]
    assert len(ignores) == sum(len(rule.get("ignore", [])) for rule in rules.values())
    for i in ignores:
        reason = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            reason.insert(0, lines[j].strip("# "))
            j -= 1
        assert len(" ".join(reason)) >= 80, f"zizmor.yml: {lines[i].strip()} needs its reason above it"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_blocks_are_valid_bash(path):
    for script in run_blocks(load(path)):
        script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", script)
        proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert proc.returncode == 0, f"{path.name}: {proc.stderr}\n{script}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_referenced_scripts_targets_and_commands_exist(path):
    targets = make_targets()
    diff_options = {o for a in synth_diff.build_parser()._actions for o in a.option_strings}
    for script in run_blocks(load(path)):
        for words in commands(script):
            for word in words:
                if re.match(r"^(\./)?(scripts|\.ci)/", word):
                    file = ROOT / word
                    assert file.is_file(), f"{path.name}: {word} does not exist"
                    assert file.stat().st_mode & 0o111, f"{path.name}: {word} is not executable"
            if words[0] == "make":
                for target in [w for w in words[1:] if not w.startswith("-") and "=" not in w]:
                    assert target in targets, f"{path.name}: no make target {target!r}"
            if "main.py" in words:
                rest = words[words.index("main.py") + 1:]
                command = rest[0] if rest and not rest[0].startswith("-") else "synth"
                assert command in entry_point.COMMANDS, f"{path.name}: main.py has no command {command!r}"
                if command == "diff":
                    for option in [w.split("=")[0] for w in rest[1:] if w.startswith("--")]:
                        assert option in diff_options, f"{path.name}: main.py diff has no option {option}"


def test_pull_request_review_is_one_updated_comment_and_fails_on_unreviewed_security_changes():
    pr = load(ROOT / ".github/workflows/pull-request.yml")
    comment = load(ROOT / ".github/workflows/pr-comment.yml")
    assert "pull_request" in pr["on"]
    assert {"labeled", "unlabeled"} <= set(pr["on"]["pull_request"]["types"])
    assert comment["on"]["workflow_run"]["workflows"] == [pr["name"]]
    text = (ROOT / ".github/workflows/pull-request.yml").read_text()
    assert 'main.py diff --base "origin/$BASE_REF"' in text
    assert "'security-reviewed'" in text and "MLOPS_ALLOW_SECURITY_CHANGES" in text
    assert "scripts/plan-stacks.sh" in text and "vars.AWS_PLAN_ROLE_ARN" in text
    script = (ROOT / ".github/workflows/pr-comment.yml").read_text()
    assert "updateComment" in script and "createComment" in script and "<!-- mlops-infra-review -->" in script
    assert "actions/checkout" not in script  # never runs pull request code with write access
    for job in pr["jobs"].values():
        assert "pull-requests" not in job["permissions"]  # pull request code never gets a write token


def test_deploy_runs_cdktf_deploy_behind_an_environment():
    doc = load(ROOT / ".github/workflows/deploy.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    deploy = doc["jobs"]["deploy"]
    assert deploy["needs"] == "test" and "id-token" in deploy["permissions"]
    assert deploy["environment"].startswith("${{") and "vars.DEPLOY_ENVIRONMENT" in deploy["environment"]
    (block,) = [block for block in run_blocks(doc) if "scripts/cdktf.sh deploy" in block]
    # every stack of the environment (a multi-account one has several), named from a synth of
    # that environment's manifest, in one command that follows their dependencies
    assert 'main.py synth --env "$DEPLOY_ENV"' in block and "manifest.json" in block
    assert 'scripts/cdktf.sh deploy "${stacks[@]}"' in block
    assert doc["concurrency"]["cancel-in-progress"] is False


def test_comment_goes_only_to_the_pull_request_the_triggering_run_tested():
    """The pull request number in the artifact was written by the pull request's own code. The
    comment job compares it with the run's own pull requests, then fetches that pull request and
    posts only if its head repository and head SHA are the triggering run's (GitHub event fields
    workflow_run.pull_requests, head_sha, head_repository)."""
    comment = load(ROOT / ".github/workflows/pr-comment.yml")
    script = comment["jobs"]["comment"]["steps"][-1]["with"]["script"]
    checks = ["run.pull_requests", "!own.includes(number)", "github.rest.pulls.get",
              "pr.head.sha !== run.head_sha", "pr.head.repo.full_name !== run.head_repository.full_name"]
    positions = [script.find(c) for c in checks]
    assert -1 not in positions, [c for c, p in zip(checks, positions) if p == -1]
    post = min(script.find("updateComment"), script.find("createComment"))
    assert max(positions) < post, "every check comes before the comment is written"
    assert re.search(r"test\(text\)", script), "the number must be validated as digits first"
    assert comment["jobs"]["comment"]["permissions"] == {"actions": "read", "pull-requests": "write"}
