"""The pipeline's source (config `source`): the S3 zip (dev) or a GitHub branch through a
CodeConnections connection (prod), as synthesized; the facts the GitHub source must respect,
checked against CodePipeline's and CodeConnections' own service models (botocore)."""
from __future__ import annotations

import json

import botocore.session
import pytest

from infra.config import (CONFIG_DIR, CONNECTION_ARN_PATTERN, MAX_TRIGGER_PATHS,
                          TRIGGER_PATTERN_MAX, load_environment)
from infra.naming import CONNECTION_NAME_MAX, Names
from pipeline_src.jobs.train import SOURCE_VARIABLES
from tests.iam.stack_model import CONNECTION_ID, StackModel
from tests.iam.sufficiency import analyse

PROD = load_environment("prod")
PROD_NAMES = Names(PROD)
CONNECTION_REF = "${aws_codeconnections_connection.github_connection_AC81FF25.arn}"


def pipeline_of(stacks, stack: str) -> dict:
    """The stack's main pipeline (prod also has the pull-request pipeline)."""
    (pipeline,) = [p for p in stacks[stack]["resource"]["aws_codepipeline"].values()
                   if not p["name"].endswith("-pull-requests")]
    return pipeline


def actions(pipeline: dict) -> dict:
    return {stage["name"]: stage["action"][0] for stage in pipeline["stage"]}


def pipeline_policy(stacks, stack: str) -> list[dict]:
    (policy,) = [p for lid, p in stacks[stack]["resource"]["aws_iam_role_policy"].items()
                 if lid.startswith("pipeline_role_pipeline")]
    return json.loads(policy["policy"])["Statement"]


def service_model(name: str):
    return botocore.session.get_session().get_service_model(name)


# ---- prod: the GitHub source -------------------------------------------------------------------

def test_prod_creates_a_github_connection_and_outputs_it_for_the_handshake(stacks):
    stack = stacks[PROD_NAMES.stack]
    (connection,) = stack["resource"]["aws_codeconnections_connection"].values()
    assert connection["name"] == "fraud-mlops-prod-github"
    assert connection["provider_type"] == "GitHub"
    output = stack["output"]["source_connection_arn"]
    assert output["value"] == CONNECTION_REF
    assert "PENDING" in output["description"] and "AVAILABLE" in output["description"]


def test_prod_source_action_reads_the_configured_branch_through_the_connection(stacks):
    source = actions(pipeline_of(stacks, PROD_NAMES.stack))["Source"]
    assert (source["provider"], source["category"], source["owner"]) == (
        "CodeStarSourceConnection", "Source", "AWS")
    assert source["configuration"] == {
        "ConnectionArn": CONNECTION_REF, "FullRepositoryId": "example-org/fraud-mlops",
        "BranchName": "main", "OutputArtifactFormat": "CODE_ZIP"}
    assert source["namespace"] == "SourceVariables"


def test_prod_trigger_is_the_one_push_trigger_on_the_branch_and_ml_paths(stacks):
    pipeline = pipeline_of(stacks, PROD_NAMES.stack)
    assert pipeline["pipeline_type"] == "V2"
    (trigger,) = pipeline["trigger"]
    assert trigger["provider_type"] == "CodeStarSourceConnection"
    git = trigger["git_configuration"]
    assert git["source_action_name"] == actions(pipeline)["Source"]["name"]
    (push,) = git["push"]
    assert push == {"branches": {"includes": ["main"]},
                    "file_paths": {"includes": ["pipeline_src/**"]}}
    assert "pull_request" not in git


def test_prod_pipeline_role_uses_exactly_that_connection(stacks):
    grants = [s for s in pipeline_policy(stacks, PROD_NAMES.stack)
              if any("Connection" in a for a in s["Action"])]
    assert grants == [{"Sid": "UseSourceConnection", "Effect": "Allow",
                       "Action": ["codeconnections:UseConnection"],
                       "Resource": [CONNECTION_REF]}]
    # The S3 source's grants are gone with it; no EventBridge rule watches the zip.
    sids = {s["Sid"] for s in pipeline_policy(stacks, PROD_NAMES.stack)}
    assert not sids & {"ReadSourceObject", "CheckSourceBucketVersioning"}
    assert not any(n.startswith("source_trigger")
                   for n in stacks[PROD_NAMES.stack]["resource"]["aws_iam_role"])


def test_the_commit_travels_from_the_source_action_to_the_train_job(stacks):
    train = actions(pipeline_of(stacks, PROD_NAMES.stack))["Train"]
    variables = json.loads(train["configuration"]["EnvironmentVariables"])
    assert variables == [{"name": env, "value": f"#{{SourceVariables.{variable}}}",
                          "type": "PLAINTEXT"} for env, variable in SOURCE_VARIABLES.items()]
    # CodePipeline documents these output variables of the CodeStarSourceConnection action
    # (CodePipeline User Guide, Variables reference).
    assert set(SOURCE_VARIABLES.values()) <= {"AuthorDate", "BranchName", "CommitId",
                                              "CommitMessage", "ConnectionArn",
                                              "FullRepositoryName"}


@pytest.fixture(scope="module")
def prod_analysis(stacks):
    model = StackModel(stacks[PROD_NAMES.stack], account=PROD.account_id)
    return model, analyse(model, PROD_NAMES.prefix, [])


def test_pull_requests_start_a_pipeline_that_trains_and_tests_and_never_deploys(stacks):
    resources = stacks[PROD_NAMES.stack]["resource"]
    (pipeline,) = [p for p in resources["aws_codepipeline"].values()
                   if p["name"] == PROD_NAMES.pull_request_pipeline]
    assert [s["name"] for s in pipeline["stage"]] == ["Source", "Train", "Test"]
    (trigger,) = pipeline["trigger"]
    git = trigger["git_configuration"]
    assert "push" not in git
    assert git["pull_request"] == [{"events": ["OPEN", "UPDATED"],
                                    "branches": {"includes": ["main"]},
                                    "file_paths": {"includes": ["pipeline_src/**"]}}]
    steps = actions(pipeline)
    main = actions(pipeline_of_named(stacks, PROD_NAMES.pipeline))
    assert steps["Source"] == main["Source"] and steps["Train"] == main["Train"]
    # The Test job registers a pull request's model Rejected (pipeline_src/jobs/test.py).
    assert json.loads(steps["Test"]["configuration"]["EnvironmentVariables"]) == [
        {"name": "PIPELINE_RUN", "value": "pull-request", "type": "PLAINTEXT"}]
    # Its own role: builds and the connection, no deploy function, no approval topic.
    (policy,) = [json.loads(p["policy"]) for lid, p in resources["aws_iam_role_policy"].items()
                 if lid.startswith("pull_requests_role_pipeline")]
    actions_granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert "codeconnections:UseConnection" in actions_granted
    assert not {a for a in actions_granted if a.startswith(("lambda:", "sns:"))}
    assert pipeline["role_arn"] != pipeline_of_named(stacks, PROD_NAMES.pipeline)["role_arn"]


def pipeline_of_named(stacks, name: str) -> dict:
    (pipeline,) = [p for p in stacks[PROD_NAMES.stack]["resource"]["aws_codepipeline"].values()
                   if p["name"] == name]
    return pipeline


def test_pipeline_role_may_do_what_its_github_source_needs(prod_analysis):
    """The declared service needs (tests/iam/declarations.py: UseConnection on the action's
    connection, the output artifact into the encrypted store) evaluated against prod's roles."""
    model, analysis = prod_analysis
    role = model.roles[PROD_NAMES.role("codepipeline")]
    needs = [n for n in analysis.needs if n.principal == role.arn]
    connection = (f"arn:aws:codeconnections:{PROD.region}:{PROD.account_id}:connection/"
                  f"{CONNECTION_ID}")
    (use,) = [n for n in needs if n.action.endswith(":UseConnection")]
    assert (use.action, use.resource) == ("codeconnections:UseConnection", connection)
    assert analysis.missing(needs=needs) == []
    # The pull-request pipeline's role, and the builds' access to its artifacts, likewise.
    pull_requests = model.roles[PROD_NAMES.role("codepipeline-pr")]
    pr_needs = [n for n in analysis.needs if n.principal == pull_requests.arn
                or PROD_NAMES.pull_request_pipeline[:20] in n.resource]
    assert {n.action for n in pr_needs} >= {"codeconnections:UseConnection",
                                            "codebuild:StartBuild", "s3:PutObject",
                                            "s3:GetObject"}
    assert analysis.missing(needs=pr_needs) == []
    # Without the grant the pipeline cannot fetch the repository: the need names it.
    (policy,) = role.policies
    index = next(i for i, s in enumerate(policy.statements) if s["Sid"] == "UseSourceConnection")
    (missing,) = analysis.missing(needs=[use], drop=(policy.name, index))
    assert "codeconnections:UseConnection" in missing and connection in missing


def test_a_given_connection_arn_is_used_as_is_with_its_own_service_prefix(tmp_path):
    """An existing connection: no connection resource, and the grant's prefix is the ARN's
    (a connection created before the rename keeps codestar-connections)."""
    from cdktf import App, TerraformStack

    from infra.environment import DeploymentTarget
    from infra.source import GitHubSource
    from tests.config_edit import with_setting

    arn = ("arn:aws:codestar-connections:eu-west-1:111111111111:connection/"
           "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
    raw = json.loads((CONFIG_DIR / "prod.json").read_text())
    (tmp_path / "prod.json").write_text(json.dumps(
        with_setting(raw, "source.connection_arn", arn)))
    config = load_environment("prod", config_dir=tmp_path)
    stack = TerraformStack(App(outdir=str(tmp_path / "out")), "s")
    source = GitHubSource(stack, "github", target=DeploymentTarget(config, Names(config),
                                                                   "111111111111"))
    assert source.connection is None and source.connection_arn == arn
    assert source.use() == {"Sid": "UseSourceConnection", "Effect": "Allow",
                            "Action": ["codestar-connections:UseConnection"], "Resource": [arn]}
    assert source.action("SourceOutput").configuration["ConnectionArn"] == arn


# ---- dev: the S3 default -------------------------------------------------------------------------

def test_dev_keeps_the_s3_source_and_its_eventbridge_start(stacks):
    pipeline = pipeline_of(stacks, "fraud-mlops-dev")
    assert "trigger" not in pipeline
    source, train = actions(pipeline)["Source"], actions(pipeline)["Train"]
    assert source["provider"] == "S3" and source["configuration"]["PollForSourceChanges"] == "false"
    assert train["configuration"] == {"ProjectName": "fraud-mlops-dev-train"}
    assert "aws_codeconnections_connection" not in stacks["fraud-mlops-dev"]["resource"]
    assert "source_connection_arn" not in stacks["fraud-mlops-dev"]["output"]


# ---- the AWS facts the configuration is held to ---------------------------------------------

def test_trigger_limits_are_codepipelines_own():
    codepipeline = service_model("codepipeline")
    paths = codepipeline.shape_for("GitFilePathFilterCriteria").members["includes"]
    assert (paths.metadata["min"], paths.metadata["max"]) == (1, MAX_TRIGGER_PATHS)
    assert paths.member.metadata["max"] == TRIGGER_PATTERN_MAX
    # Push filters combine branches and file paths, or Git tags alone: one filter object
    # with branches and file paths is the shape the service takes.
    push = codepipeline.shape_for("GitPushFilter").members
    assert {"branches", "filePaths", "tags"} == set(push)
    assert codepipeline.shape_for("PipelineTriggerDeclaration").members["providerType"] \
        .enum == ["CodeStarSourceConnection"]


def test_connection_names_and_arns_fit_codeconnections_own_limits():
    for service in ("codeconnections", "codestar-connections"):
        model = service_model(service)
        assert model.shape_for("ConnectionName").metadata["max"] == CONNECTION_NAME_MAX
        assert "GitHub" in model.shape_for("ProviderType").enum
    assert CONNECTION_ARN_PATTERN.fullmatch(
        f"arn:aws:codeconnections:{PROD.region}:{PROD.account_id}:connection/{CONNECTION_ID}")
