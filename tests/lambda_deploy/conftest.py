"""Fixtures of the deploy-step tests: moto-backed AWS, the Lambda environment, the fakes."""
from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from moto import mock_aws

# Tests import their shared helpers from this folder (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _run_from_the_shipped_zip() -> Path | None:
    """On the Lambda's runtime environment (.venv-lambda: python3.13 and the runtime's boto3, no
    pydantic), import lambda_deploy and its dependencies from the zip infra ships, unpacked, as
    Lambda does: the tests then exercise exactly what ships. In the project environment the same
    pins are installed (tests/test_supply_chain.py)."""
    import importlib.util
    import tempfile

    if importlib.util.find_spec("pydantic") is not None:
        return None
    from infra.packaging import build_zip, installed_dependencies

    unpacked = Path(tempfile.mkdtemp(prefix="lambda-zip-"))
    archive = build_zip(Path(__file__).resolve().parents[2] / "lambda_deploy",
                        unpacked / "function.zip", "lambda_deploy",
                        dependencies=installed_dependencies())
    with zipfile.ZipFile(archive.path) as bundle:
        bundle.extractall(unpacked / "task")
    sys.path.insert(0, str(unpacked / "task"))
    return unpacked / "task"


SHIPPED = _run_from_the_shipped_zip()

from deploy_helpers import (BUCKET, GROUP, REGION, CallLog, FakeAws,  # noqa: E402
                            inference_specification, lambda_environment)
from lambda_deploy import aws as lambda_aws  # noqa: E402
from tests.moto_accounts import fake_credentials  # noqa: E402


@pytest.fixture
def lambda_env(monkeypatch):
    """Set the function's environment; call the returned function to override stage settings."""
    def apply(**stage_overrides):
        for key, value in lambda_environment(**stage_overrides).items():
            monkeypatch.setenv(key, value)
    apply()
    return apply


@pytest.fixture
def aws_mock(monkeypatch):
    fake_credentials(monkeypatch, REGION)
    # Lambda's runtime sets AWS_REGION (the function's region), which lambda_aws reads.
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        lambda_aws.reset()
        # The artifact bucket holds the pipeline's artifacts and the deploy step's job claims.
        lambda_aws.session().client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield
    lambda_aws.reset()


@pytest.fixture
def fake(aws_mock, lambda_env):
    return FakeAws()


@pytest.fixture
def calls(fake):
    """Names of the AWS operations the deploy step calls, in order."""
    return CallLog()


@pytest.fixture
def registry(aws_mock):
    """Model package groups; call .register(status, group=GROUP) to add a version."""
    sm = lambda_aws.session().client("sagemaker", region_name=REGION)

    class Registry:
        def __init__(self):
            self.groups = set()

        def register(self, status="Approved", group=GROUP, properties=None) -> str:
            if group not in self.groups:
                sm.create_model_package_group(ModelPackageGroupName=group)
                self.groups.add(group)
            extra = {"CustomerMetadataProperties": properties} if properties else {}
            return sm.create_model_package(
                ModelPackageGroupName=group, ModelApprovalStatus=status, **extra,
                InferenceSpecification=inference_specification(
                    f"s3://{BUCKET}/training/job/output/model.tar.gz"),
            )["ModelPackageArn"]

    return Registry()


@pytest.fixture
def artifacts(aws_mock):
    """Put TestOutput artifacts in S3; returns a function (files dict or raw bytes) -> key."""
    s3 = lambda_aws.session().client("s3", region_name=REGION)
    counter = iter(range(1, 10_000))

    def put(files=None, raw: bytes | None = None) -> str:
        # Under the pipeline's artifact prefix (its name's first 20 characters).
        key = f"fraud-mlops-dev-pipe/TestOutput/artifact{next(counter)}.zip"
        if raw is None:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for name, content in (files or {}).items():
                    archive.writestr(name, content)
            raw = buffer.getvalue()
        s3.put_object(Bucket=BUCKET, Key=key, Body=raw)
        return key

    def package_artifact(arn: str) -> str:
        return put({"model_package.json": json.dumps({
            "model_package_arn": arn, "model_data_url": "s3://x/model.tar.gz",
            "training_job_name": "job", "approval_status": "Approved"}),
            "evaluation.json": "{}"})

    put.package = package_artifact
    return put
