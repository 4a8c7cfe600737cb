"""Both CodeBuild jobs against moto; a stand-in for the training service puts a real model where
SageMaker would write it."""
import json
from datetime import datetime, timezone

import pytest

from pipeline_src.jobs import common, test as test_job, train as train_job
from pipeline_src.jobs.common import JobError
from tests.pipeline_src.conftest import (BUCKET, GROUP, KMS, ROLE, gate_thresholds,
                                         job_environment, nan_scoring_copy, train_model)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


def run_train(aws, tmp_path, **env):
    return train_job.run_job(tmp_path / "train-out", environ=job_environment(**env), session=aws,
                             now=NOW, poll_seconds=0)


def test_train_job_starts_training_and_registers_package(aws, fake_training, model_dir, tmp_path):
    fake_training["model_dir"] = model_dir
    assert run_train(aws, tmp_path) == 0
    name = "fraud-mlops-dev-20260102T030405-3Hqw9xYz"
    (request,) = fake_training["requests"]
    assert request["TrainingJobName"] == name
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert request["RoleArn"] == ROLE
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/training", "KmsKeyId": KMS}
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in request["InputDataConfig"]}
    assert channels == {"train": f"s3://{BUCKET}/data/train.csv",
                        "validation": f"s3://{BUCKET}/data/validation.csv",
                        "code": f"s3://{BUCKET}/training/{name}/source"}
    hps = request["HyperParameters"]
    assert json.loads(hps["min-samples-leaf"]) == "30" and json.loads(hps["threshold-folds"]) == "4"
    assert json.loads(hps["sagemaker_program"]) == "pipeline_src/train.py"
    assert json.loads(hps["sagemaker_submit_directory"]) == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert request["EnableNetworkIsolation"] is True
    # The ownership tags the build's role requires on every training job it creates.
    assert request["Tags"] == [{"Key": "mlops:environment", "Value": "dev"},
                               {"Key": "mlops:project", "Value": "fraud-mlops"}]

    s3 = aws.client("s3")
    source = s3.head_object(Bucket=BUCKET, Key=f"training/{name}/source/sourcedir.tar.gz")
    assert source["ServerSideEncryption"] == "aws:kms"

    out = json.loads((tmp_path / "train-out" / "model_package.json").read_text())
    assert out["training_job_name"] == name
    assert out["model_data_url"] == f"s3://{BUCKET}/training/{name}/output/model.tar.gz"
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=out["model_package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelPackageGroupName"] == GROUP
    spec = package["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["Image"] == IMAGE and container["ModelDataUrl"] == out["model_data_url"]
    # The code travels inside the model (no S3 access under network isolation); the container
    # installs it with no index (tests/container start it this way with no index reachable).
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_REGION": "eu-west-1", "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "PIP_NO_BUILD_ISOLATION": "false", "PIP_NO_INDEX": "true", "OMP_NUM_THREADS": "1"}
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large", "ml.m5.xlarge"]
    props = package["CustomerMetadataProperties"]
    assert props["source_revision"] == "3Hq.w_9xYzAbCdEf"
    assert props["data_location"] == f"s3://{BUCKET}/data"
    assert props["source_bundle"] == f"s3://{BUCKET}/training/{name}/source/sourcedir.tar.gz"
    metrics_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    body = s3.get_object(Bucket=BUCKET, Key=metrics_uri.split(f"{BUCKET}/", 1)[1])["Body"].read()
    assert "validation_pr_auc" in json.loads(body)


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_git_sources_commit_travels_into_the_training_job_and_the_package(
        aws, fake_training, model_dir, tmp_path):
    """With the GitHub source the pipeline passes the source action's CommitId,
    FullRepositoryName and BranchName (infra/source.py GitHubSource.build_variables)."""
    fake_training["model_dir"] = model_dir
    assert run_train(aws, tmp_path, SOURCE_COMMIT=COMMIT, SOURCE_REPOSITORY="example-org/fraud",
                     SOURCE_BRANCH="main") == 0
    (request,) = fake_training["requests"]
    assert request["TrainingJobName"] == "fraud-mlops-dev-20260102T030405-01234567"
    assert request["Environment"] == {"MLOPS_SOURCE_BRANCH": "main",
                                      "MLOPS_SOURCE_COMMIT": COMMIT,
                                      "MLOPS_SOURCE_REPOSITORY": "example-org/fraud"}
    out = json.loads((tmp_path / "train-out" / "model_package.json").read_text())
    props = aws.client("sagemaker").describe_model_package(
        ModelPackageName=out["model_package_arn"])["CustomerMetadataProperties"]
    assert {k: props[k] for k in ("source_revision", "source_commit", "source_repository",
                                  "source_branch")} == {
        "source_revision": COMMIT, "source_commit": COMMIT,
        "source_repository": "example-org/fraud", "source_branch": "main"}
    # The deploy step reads the commit under the name it declares (the zip holds only
    # lambda_deploy/, so the train job cannot import it).
    from lambda_deploy.package import COMMIT_PROPERTY
    assert train_job.COMMIT_PROPERTY == COMMIT_PROPERTY


def test_the_s3_source_records_the_object_version_and_no_commit(aws, fake_training, model_dir,
                                                                tmp_path):
    fake_training["model_dir"] = model_dir
    assert run_train(aws, tmp_path) == 0
    (request,) = fake_training["requests"]
    assert "Environment" not in request
    out = json.loads((tmp_path / "train-out" / "model_package.json").read_text())
    props = aws.client("sagemaker").describe_model_package(
        ModelPackageName=out["model_package_arn"])["CustomerMetadataProperties"]
    assert "source_commit" not in props and props["source_revision"] == "3Hq.w_9xYzAbCdEf"


VPC_CONFIG = {"SecurityGroupIds": ["sg-0123456789abcdef0"],
              "Subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]}


def test_with_a_network_the_training_job_runs_in_its_subnets_still_isolated(
        aws, fake_training, model_dir, tmp_path):
    """infra passes the environment's subnets and training security group (config `network`)."""
    fake_training["model_dir"] = model_dir
    assert run_train(aws, tmp_path, TRAINING_VPC_CONFIG=json.dumps(VPC_CONFIG)) == 0
    (request,) = fake_training["requests"]
    assert request["VpcConfig"] == VPC_CONFIG
    assert request["EnableNetworkIsolation"] is True
    assert request["EnableInterContainerTrafficEncryption"] is True


def test_without_a_network_the_training_job_has_no_vpc_config(aws, fake_training, model_dir,
                                                              tmp_path):
    fake_training["model_dir"] = model_dir
    assert run_train(aws, tmp_path, TRAINING_VPC_CONFIG="") == 0
    (request,) = fake_training["requests"]
    assert "VpcConfig" not in request


@pytest.mark.parametrize("text, error", [
    ("{", "TRAINING_VPC_CONFIG is not valid JSON"),
    ('{"Subnets": ["subnet-1"]}', "TRAINING_VPC_CONFIG must be a JSON object with Subnets"),
    ('{"Subnets": [], "SecurityGroupIds": ["sg-1"]}', "1-16 of each"),
    ('{"Subnets": ["sg-1"], "SecurityGroupIds": ["sg-1"]}', "Subnets (subnet-...)"),
])
def test_a_bad_vpc_config_is_refused_before_anything_starts(text, error):
    with pytest.raises(common.SettingsError) as exc:
        train_job.parse_vpc_config(text)
    assert error in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("env, error", [
    ({"SOURCE_COMMIT": "#{SourceVariables.CommitId}"}, "is not a git commit id"),
    ({"SOURCE_COMMIT": "ABC"}, "is not a git commit id"),
    ({"SOURCE_REPOSITORY": "a/b"}, "without SOURCE_COMMIT"),
])
def test_a_source_commit_that_is_not_one_is_refused_before_anything_starts(env, error):
    with pytest.raises(common.SettingsError, match=error):
        train_job.source_of(env)


def test_sourcedir_holds_entry_points_and_is_reproducible():
    import io
    import tarfile

    data = common.sourcedir_bytes()
    assert data == common.sourcedir_bytes()
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert {"inference.py", "pipeline_src/train.py", "pipeline_src/contract.py"} <= set(names)


def test_job_name_is_a_valid_sagemaker_name():
    assert common.training_job_name("p-dev", "", NOW) == "p-dev-20260102T030405-local"
    assert common.training_job_name("p-dev", "._-", NOW) == "p-dev-20260102T030405-local"
    with pytest.raises(JobError) as exc:
        common.training_job_name("x" * 50, "abc", NOW)
    assert "is not a valid SageMaker name" in str(exc.value)


def test_missing_settings_are_named(aws, tmp_path):
    with pytest.raises(JobError) as exc:
        run_train(aws, tmp_path, KMS_KEY_ARN=None, HYPERPARAMETERS="")
    assert str(exc.value) == "missing environment setting(s): KMS_KEY_ARN, HYPERPARAMETERS"


def test_train_job_main_prints_one_line_and_exits_2_for_missing_settings(monkeypatch, capsys,
                                                                         tmp_path):
    for key in list(job_environment()):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RESOURCE_PREFIX", "p-dev")
    assert train_job.main(["--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: missing environment setting(s): DATA_S3_URI, ")
    assert "\n" not in err


@pytest.mark.parametrize("error, status", [
    (common.SettingsError("HYPERPARAMETERS is not valid JSON: Expecting value"), 2),
    (common.JobError("training job p-dev-1 Failed: AlgorithmError"), 1),
])
def test_jobs_exit_2_for_bad_input_and_1_when_the_work_fails(error, status, capsys):
    def body():
        raise error

    assert common.run(body) == status
    assert capsys.readouterr().err == f"error: {error}\n"


def test_test_job_without_the_train_stages_output_exits_2(monkeypatch, capsys, tmp_path):
    for name, value in {"MODEL_PACKAGE_GROUP": GROUP, "DATA_S3_URI": f"s3://{BUCKET}/data",
                        "AWS_REGION": "eu-west-1", "GATE_THRESHOLDS": gate_thresholds()}.items():
        monkeypatch.setenv(name, value)
    assert test_job.main(["--train-output", str(tmp_path / "none"),
                          "--output-dir", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'none' / 'model_package.json'}: "
                                       "missing; the Train stage writes it (is TrainOutput an "
                                       "input?)\n")


def test_contract_breach_stops_before_any_training_job(aws, fake_training, splits, tmp_path):
    body = splits["validation"].rename(columns={"amount": "amount_eur"}).to_csv(index=False)
    aws.client("s3").put_object(Bucket=BUCKET, Key="data/validation.csv", Body=body.encode())
    with pytest.raises(Exception) as exc:
        run_train(aws, tmp_path)
    assert str(exc.value).startswith("validation.csv: missing column(s): amount; unexpected "
                                     "column(s): amount_eur (renamed upstream?)")
    assert fake_training["requests"] == []


def test_failed_aws_call_names_the_api(aws, tmp_path):
    from botocore.exceptions import ClientError

    def deny(**_):
        raise ClientError({"Error": {"Code": "AccessDeniedException",
                                     "Message": "not authorized to perform\n sagemaker:CreateTrainingJob"}},
                          "CreateTrainingJob")

    aws.events.register("before-call.sagemaker.CreateTrainingJob", deny)
    with pytest.raises(JobError) as exc:
        run_train(aws, tmp_path)
    assert str(exc.value) == ("sagemaker:CreateTrainingJob failed: AccessDeniedException: not "
                              "authorized to "
                              "perform sagemaker:CreateTrainingJob")


def test_missing_data_names_get_object(aws, tmp_path):
    aws.client("s3").delete_object(Bucket=BUCKET, Key="data/test.csv")
    with pytest.raises(JobError) as exc:
        run_train(aws, tmp_path)
    assert str(exc.value).startswith("s3:GetObject failed: NoSuchKey: ")


# --- test job -----------------------------------------------------------------------------

def register(aws, fake_training, model, tmp_path, label):
    fake_training["model_dir"] = model
    out = tmp_path / label
    assert train_job.run_job(out, environ=job_environment(CODEBUILD_RESOLVED_SOURCE_VERSION=label),
                             session=aws, now=NOW, poll_seconds=0) == 0
    return out


def run_test(aws, train_out, tmp_path, **env):
    return test_job.run_job(train_out, tmp_path / "test-out", environ=job_environment(**env),
                            session=aws)


def status(aws, arn):
    return aws.client("sagemaker").describe_model_package(ModelPackageName=arn)


def test_first_model_is_approved_on_thresholds(aws, fake_training, model_dir, tmp_path):
    train_out = register(aws, fake_training, model_dir, tmp_path, "first")
    assert run_test(aws, train_out, tmp_path) == 0
    result = json.loads((tmp_path / "test-out" / "model_package.json").read_text())
    assert result["approval_status"] == "Approved"
    package = status(aws, result["model_package_arn"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"].endswith("no approved champion (first model)")
    evaluation = json.loads((tmp_path / "test-out" / "evaluation.json").read_text())
    assert evaluation["passed"] is True and evaluation["champion"] is None
    for name in ("model_quality.json", "report.md", "pr_curve.png"):
        assert (tmp_path / "test-out" / name).is_file()


def test_model_below_thresholds_is_rejected_and_build_fails(aws, fake_training, model_dir,
                                                            tmp_path, capsys):
    train_out = register(aws, fake_training, model_dir, tmp_path, "strict")
    assert run_test(aws, train_out, tmp_path, GATE_THRESHOLDS=gate_thresholds(min_pr_auc=0.99)) == 1
    arn = json.loads((train_out / "model_package.json").read_text())["model_package_arn"]
    package = status(aws, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith("rejected: pr_auc ")
    assert "< minimum 0.9900" in package["ApprovalDescription"]
    assert capsys.readouterr().err.strip().startswith("error: model rejected by the quality gate: pr_auc")
    assert json.loads((tmp_path / "test-out" / "model_package.json").read_text())[
        "approval_status"] == "Rejected"


def test_a_pull_requests_model_is_gated_then_rejected_and_never_becomes_the_champion(
        aws, fake_training, model_dir, tmp_path):
    """The pull-request pipeline's Test action sets PIPELINE_RUN=pull-request (infra/pipeline.py
    PullRequestPipeline): the gate still decides the exit code, the package is Rejected."""
    pr_out = register(aws, fake_training, model_dir, tmp_path / "pr", "pr")
    assert run_test(aws, pr_out, tmp_path / "pr", PIPELINE_RUN="pull-request") == 0
    pr_arn = json.loads((pr_out / "model_package.json").read_text())["model_package_arn"]
    package = status(aws, pr_arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith(
        "pull-request run, evaluation only, never deployed; gate passed: ")
    # The next model of the branch meets no champion: the pull request's was never approved.
    main_out = register(aws, fake_training, model_dir, tmp_path / "main", "main")
    assert run_test(aws, main_out, tmp_path / "main") == 0
    evaluation = json.loads((tmp_path / "main" / "test-out" / "evaluation.json").read_text())
    assert evaluation["champion"] is None
    # A pull request whose model fails the gate fails its run.
    failing = register(aws, fake_training, model_dir, tmp_path / "fail", "fail")
    assert run_test(aws, failing, tmp_path / "fail", PIPELINE_RUN="pull-request",
                    GATE_THRESHOLDS=gate_thresholds(min_pr_auc=0.99)) == 1


def test_an_unknown_run_kind_is_refused(aws, tmp_path):
    with pytest.raises(common.SettingsError, match="PIPELINE_RUN='deploy' is not a run kind"):
        run_test(aws, tmp_path, tmp_path, PIPELINE_RUN="deploy")


def test_champion_is_evaluated_on_the_same_data_and_can_reject(
        aws, fake_training, model_dir, data_dir, noise_train_csv, tmp_path):
    champion_out = register(aws, fake_training, model_dir, tmp_path, "champion")
    assert run_test(aws, champion_out, tmp_path) == 0
    champion_arn = json.loads((champion_out / "model_package.json").read_text())["model_package_arn"]

    # The family is not under test here: the cheapest one fitted on label noise is weak enough.
    weak = train_model(data_dir, tmp_path / "weak", ["--model-family", "logistic"],
                       train_file=noise_train_csv)
    challenger_out = register(aws, fake_training, weak, tmp_path, "challenger")
    # Thresholds at zero: only the champion comparison can reject.
    zero = gate_thresholds(min_pr_auc=0, min_roc_auc=0, min_recall=0, min_precision=0, min_f1=0)
    assert run_test(aws, challenger_out, tmp_path, GATE_THRESHOLDS=zero) == 1
    evaluation = json.loads((tmp_path / "test-out" / "evaluation.json").read_text())
    assert evaluation["champion"]["arn"] == champion_arn
    challenger_arn = json.loads((challenger_out / "model_package.json").read_text())["model_package_arn"]
    description = status(aws, challenger_arn)["ApprovalDescription"]
    assert description.startswith("rejected: champion pr_auc ")
    assert "> tolerance 0.0200" in description


def package_arn(train_out) -> str:
    return json.loads((train_out / "model_package.json").read_text())["model_package_arn"]


def job_error(aws, train_out, tmp_path) -> str:
    with pytest.raises(JobError) as exc:
        run_test(aws, train_out, tmp_path)
    return str(exc.value)


def test_a_model_that_cannot_score_the_test_rows_fails_the_job_naming_it(
        aws, fake_training, model_dir, tmp_path):
    """load_model checks two example rows; a NaN on any test row must still stop the job with
    one line naming the package, not a metric's traceback, and leave the approval untouched."""
    broken = nan_scoring_copy(model_dir, tmp_path / "broken-model")
    champion_out = register(aws, fake_training, broken, tmp_path, "champion")
    champion_arn = package_arn(champion_out)
    error = job_error(aws, champion_out, tmp_path)
    assert error.startswith(f"challenger {champion_arn} cannot be evaluated: scores ")
    assert status(aws, champion_arn)["ModelApprovalStatus"] == "PendingManualApproval"

    # The broken model as the approved champion (approved by hand, as a reviewer can).
    aws.client("sagemaker").update_model_package(ModelPackageArn=champion_arn,
                                                 ModelApprovalStatus="Approved")
    challenger_out = register(aws, fake_training, model_dir, tmp_path, "challenger")
    error = job_error(aws, challenger_out, tmp_path)
    assert error.startswith(f"champion {champion_arn} cannot be evaluated: scores ")
    assert "rows outside [0, 1]" in error and "\n" not in error
    challenger = status(aws, package_arn(challenger_out))
    assert challenger["ModelApprovalStatus"] == "PendingManualApproval"


def test_missing_train_output(aws, tmp_path):
    with pytest.raises(JobError) as exc:
        run_test(aws, tmp_path / "nowhere", tmp_path)
    assert str(exc.value).endswith("model_package.json: missing; the Train stage writes it "
                                   "(is TrainOutput an input?)")


@pytest.mark.parametrize("value, expected", [
    ('{"min_f1": "high"}', "expected an object with exactly min_pr_auc, min_roc_auc, min_recall, "
                           "min_precision, min_f1, champion_tolerance"),
    (gate_thresholds().replace('"min_f1": 0.3', '"min_f1": "high"'),
     'min_f1: "high" is not a number in 0..1'),
    (gate_thresholds().replace('"min_f1": 0.3', '"min_f1": 1.5'), "min_f1: 1.5 is not a number in 0..1"),
    ("0.3", "expected an object with exactly min_pr_auc"),
    ("{", "not valid JSON (Expecting property name enclosed in double quotes)"),
])
def test_bad_gate_setting(aws, tmp_path, value, expected):
    with pytest.raises(JobError) as exc:
        run_test(aws, tmp_path, tmp_path, GATE_THRESHOLDS=value)
    assert str(exc.value).startswith(f"environment setting GATE_THRESHOLDS: {expected}")


def test_hyperparameters_the_entry_point_would_refuse_stop_the_job_before_training():
    from pipeline_src.jobs.train import parse_hyperparameters

    assert parse_hyperparameters('{"shadows": 5, "regularization-c": "0.1"}') == {
        "shadows": "5", "regularization-c": "0.1"}
    with pytest.raises(JobError) as exc:
        parse_hyperparameters('{"max_depth": "3"}')
    assert str(exc.value).startswith("HYPERPARAMETERS: max_depth: not a hyperparameter of the "
                                     "training entry point")


@pytest.mark.parametrize("text, error", [
    ("", "TRAINING_JOB_TAGS is not valid JSON: Expecting value"),
    ("[]", "TRAINING_JOB_TAGS must be a non-empty JSON object of strings"),
    ("{}", "TRAINING_JOB_TAGS must be a non-empty JSON object of strings"),
    ('{"mlops:project": 1}', "TRAINING_JOB_TAGS must be a non-empty JSON object of strings"),
])
def test_bad_training_job_tags_are_refused_before_anything_starts(text, error):
    with pytest.raises(common.SettingsError) as exc:
        train_job.parse_tags(text)
    assert str(exc.value) == error


def test_training_job_carries_the_tags_it_was_given():
    assert train_job.parse_tags('{"mlops:project": "p", "mlops:environment": "dev"}') == [
        {"Key": "mlops:environment", "Value": "dev"}, {"Key": "mlops:project", "Value": "p"}]
