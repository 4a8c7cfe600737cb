"""Every resource name, derived in one place from the environment config.

IAM policies scope SageMaker permissions to ``<prefix>-*`` ARNs, so anything the jobs or the
deploy step create must be named with ``Names.prefix`` (the deploy step gets it as
RESOURCE_PREFIX).
"""
from __future__ import annotations

from dataclasses import dataclass

from infra.config import EnvironmentConfig, _fail
# The deploy step names what it creates (its zip holds only lambda_deploy/); its tags, which
# teardown relies on, are declared in lambda_deploy/deploy.py.
from lambda_deploy.deploy import name_suffix_max
from lambda_deploy.settings import DEFAULT_VARIANT, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_RE

IAM_ROLE_NAME_MAX = 64
BUCKET_NAME_MAX = 63
LAMBDA_NAME_MAX = 64
# CodeConnections ConnectionName: 1-32 characters (its service model, botocore).
CONNECTION_NAME_MAX = 32
# Worst case of the training job suffix: -train-YYYYmmddHHMMSS-<rev:8>.
TRAINING_SUFFIX_BUDGET = len("-20261122T024900-abcdef12")



@dataclass(frozen=True)
class Names:
    config: EnvironmentConfig

    @property
    def prefix(self) -> str:
        return f"{self.config.project}-{self.config.name}"

    @property
    def stack(self) -> str:
        return self.prefix

    def target_stack(self, account_id: str, region: str | None = None) -> str:
        """The stack of a stage account (in one of its regions: a stage's secondary region has
        its own): unique per account and region (state, stack folder)."""
        return f"{self.prefix}-{account_id}-{region or self.config.region}"

    @property
    def deployer_external_id(self) -> str:
        """sts:ExternalId the deploy function passes and the deployer roles require."""
        return f"{self.prefix}-deploy"

    @property
    def monitor_external_id(self) -> str:
        """sts:ExternalId the monitor job passes and the stage accounts' monitor readers require."""
        return f"{self.prefix}-monitor"

    @property
    def teardown_external_id(self) -> str:
        """sts:ExternalId `main.py teardown` passes and the stage accounts' teardown roles
        require."""
        return f"{self.prefix}-teardown"

    def state_key(self, account_id: str, region: str | None = None) -> str:
        """S3 state key of a stage account's stack (in one of its regions), beside the
        environment's own."""
        key = self.config.state_backend.key
        folder, _, leaf = key.rpartition("/")
        where = f"{account_id}-{region or self.config.region}"
        return f"{folder}/{where}/{leaf}" if folder else f"{where}/{leaf}"

    def artifact_bucket(self, account_id: str, region: str | None = None) -> str:
        # Account and region make the name globally unique without a random suffix.
        return f"{self.prefix}-artifacts-{account_id}-{region or self.config.region}"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    def role(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    @property
    def model_package_group(self) -> str:
        return f"{self.prefix}-models"

    def endpoint(self, stage: str) -> str:
        return f"{self.prefix}-{stage}"

    def alarm(self, stage: str, metric: str, variant: str = DEFAULT_VARIANT) -> str:
        # A stage's default variant keeps the names alarms had before stages had variants.
        if variant == DEFAULT_VARIANT:
            return f"{self.prefix}-{stage}-{metric}"
        return f"{self.prefix}-{stage}-{variant}-{metric}"

    # The challenger variant's rollback alarms of an experiment's live phase, which the deploy
    # function creates and deletes: "_" appears in no stage, variant or metric name, so no
    # alarm Terraform manages matches LIVE_ALARM_PATTERN.
    LIVE_ALARM_MARK = "live_"

    def live_alarm(self, stage: str, metric: str) -> str:
        return f"{self.prefix}-{stage}-{self.LIVE_ALARM_MARK}{metric}"

    @property
    def live_alarm_pattern(self) -> str:
        return f"{self.prefix}-*-{self.LIVE_ALARM_MARK}*"

    @property
    def train_project(self) -> str:
        return f"{self.prefix}-train"

    @property
    def test_project(self) -> str:
        return f"{self.prefix}-test"

    @property
    def deploy_function(self) -> str:
        return f"{self.prefix}-deploy"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def connection(self) -> str:
        """The CodeConnections connection the stack creates for a GitHub source."""
        return f"{self.prefix}-github"

    @property
    def pull_request_pipeline(self) -> str:
        """The pipeline pull requests start (source.pull_requests): Train and Test only."""
        return f"{self.prefix}-pull-requests"

    @property
    def topic(self) -> str:
        return f"{self.prefix}-notifications"

    def rule(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def codebuild_log_group(self, project: str) -> str:
        return f"/aws/codebuild/{project}"

    @property
    def monitor_project(self) -> str:
        return f"{self.prefix}-monitor"

    @property
    def retrain_function(self) -> str:
        return f"{self.prefix}-retrain"

    @property
    def dashboard(self) -> str:
        return self.prefix

    @property
    def metric_namespace(self) -> str:
        # Per project; endpoints (named <prefix>-<stage>) tell environments apart.
        return f"{self.config.project}/Monitoring"

    def security_group(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    @property
    def flow_log_group(self) -> str:
        return f"/{self.config.project}/{self.config.name}/vpc-flow-logs"

    def lambda_log_group_of(self, function: str) -> str:
        return f"/aws/lambda/{function}"

    @property
    def lambda_log_group(self) -> str:
        return f"/aws/lambda/{self.deploy_function}"

    # S3 layout of the artifact bucket.
    SOURCE_KEY = "source/pipeline_src.zip"
    DATA_PREFIX = "data"
    TRAINING_OUTPUT_PREFIX = "training"
    DATA_CAPTURE_PREFIX = "data-capture"
    # In a stage's secondary region: the copies of the model artifacts it serves
    # (lambda_deploy/regions.py), models/<group>/<version>/model.tar.gz.
    MODEL_COPIES_PREFIX = "models"
    # One object per CodePipeline job the deploy step answered (lambda_deploy/claims.py).
    DEPLOY_CLAIMS_PREFIX = "deploy-claims"
    # Champion vs challenger state and verdicts (lambda_deploy/experiment.py).
    EXPERIMENTS_PREFIX = "experiments"
    DEPLOY_CLAIMS_EXPIRY_DAYS = 30
    MONITORING_PREFIX = "monitoring"
    GROUND_TRUTH_PREFIX = "ground-truth"

    @property
    def pipeline_artifact_prefix(self) -> str:
        # CodePipeline stores artifacts under the first 20 characters of the pipeline name.
        return self.pipeline[:20]

    @property
    def pipeline_artifact_prefixes(self) -> list[str]:
        """Where every pipeline of the environment keeps its artifacts (the builds read and
        write them): the main one's, and the pull-request pipeline's when there is one."""
        prefixes = [self.pipeline_artifact_prefix]
        if self.config.source.pull_requests:
            prefixes.append(self.pull_request_pipeline[:20])
        return list(dict.fromkeys(prefixes))

    ROLE_PURPOSES = ("sagemaker-training", "sagemaker-serving", "codebuild-train", "codebuild-test",
                     "codepipeline", "codepipeline-pr", "deploy-lambda", "events",
                     "codebuild-monitor", "monitor-schedule", "retrain-lambda", "deployer",
                     "monitor-reader", "teardown")

    def validate(self, label: str) -> None:
        """Fail before synth when a derived name would break an AWS limit."""
        checks = [(f"artifact bucket name {self.artifact_bucket('0' * 12, r)!r}",
                   len(self.artifact_bucket("0" * 12, r)), BUCKET_NAME_MAX)
                  for r in dict.fromkeys([self.config.region, *(
                      region for s in self.config.stages for region in s.secondary_regions)])]
        checks += [(f"IAM role name {self.role(p)!r}", len(self.role(p)), IAM_ROLE_NAME_MAX)
                   for p in self.ROLE_PURPOSES]
        checks.append((f"Lambda name {self.deploy_function!r}", len(self.deploy_function),
                       LAMBDA_NAME_MAX))
        if self.config.source.is_github and self.config.source.connection_arn is None:
            checks.append((f"connection name {self.connection!r}", len(self.connection),
                           CONNECTION_NAME_MAX))
        stages = self.config.stage_names
        sagemaker_names = [self.model_package_group] + [self.endpoint(s) for s in stages]
        checks += [(f"SageMaker name {n!r}", len(n), SAGEMAKER_NAME_MAX) for n in sagemaker_names]
        checks += [(f"deploy-step names '{self.prefix}-{s}-v<version>-<job>'",
                    len(self.prefix) + name_suffix_max(s), SAGEMAKER_NAME_MAX) for s in stages]
        checks.append((f"training job names '{self.prefix}-<time>-<revision>'",
                       len(self.prefix) + TRAINING_SUFFIX_BUDGET, SAGEMAKER_NAME_MAX))
        for what, length, limit in checks:
            if length > limit:
                _fail(f"{label}: project/name",
                      f"{what} would be {length} characters; the AWS limit is {limit}")
        for name in sagemaker_names:
            if not SAGEMAKER_NAME_RE.fullmatch(name):
                _fail(f"{label}: project/name",
                      f"SageMaker name {name!r} must match [a-zA-Z0-9](-*[a-zA-Z0-9])*")
