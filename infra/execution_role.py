"""SageMaker execution roles: one for training jobs, one for served models.

SageMaker assumes the role a request passes (CreateTrainingJob RoleArn, CreateModel
ExecutionRoleArn) to pull the image, read and write S3, write logs and metrics
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html). Split, a served model
can read only model artifacts (its serving code is inside them: /opt/ml/model/code) and write
only data capture: it cannot touch the data set, the code bundles or where registered models live.
"""
from __future__ import annotations

from typing import Optional, Sequence

from constructs import Construct

from infra.artifact_store import MODEL_ARTIFACTS, ArtifactStore
from infra.encryption import EncryptionKey
from infra.environment import DeploymentTarget
from infra.iam import service_role, statement
from infra.images import ContainerImages
from infra.naming import Names
from infra.network import Network, sagemaker_interfaces_grant

SAGEMAKER = "sagemaker.amazonaws.com"
# Keys SageMaker writes under training/<job name>/ (docs/interfaces.md, artifact bucket layout).
CODE_BUNDLES = f"{Names.TRAINING_OUTPUT_PREFIX}/*/source/*"


class SageMakerRole(Construct):
    """A role SageMaker assumes; hands out the PassRole statement for it."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget, purpose: str,
                 description: str, grants: Sequence[dict]) -> None:
        super().__init__(scope, id_)
        self.role_name = target.names.role(purpose)
        self.role = service_role(self, "role", name=self.role_name, service=SAGEMAKER,
                                 account_id=target.account_id, description=description,
                                 policies={purpose: list(grants)})
        self.role_arn = self.role.arn

    def pass_to_sagemaker(self, *, sid: str = "PassRoleToSageMakerOnly") -> dict:
        return statement(sid, ["iam:PassRole"], [self.role_arn],
                         conditions={"StringEquals": {"iam:PassedToService": SAGEMAKER}})


def _logs(target: DeploymentTarget, groups: Sequence[str], streams: str, sid: str) -> list[dict]:
    group_arns = [target.log_group_arn(g) for g in groups]
    return [
        statement(f"{sid}Groups", ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                  group_arns),
        statement(f"{sid}Streams", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{arn}:log-stream:{streams}" for arn in group_arns]),
    ]


def _metrics(namespace: str) -> dict:
    # PutMetricData has no resource-level permissions; the namespace condition limits it.
    return statement("PublishSageMakerMetrics", ["cloudwatch:PutMetricData"], "*",
                     conditions={"StringEquals": {"cloudwatch:namespace": namespace}})


class TrainingRole(SageMakerRole):
    """What a training job runs as."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 store: ArtifactStore, key: EncryptionKey, images: ContainerImages,
                 network: Optional[Network] = None) -> None:
        prefix = target.names.prefix
        grants = [
            *images.pull(),
            store.read(f"{Names.DATA_PREFIX}/*", CODE_BUNDLES, sid="ReadChannels"),
            # S3Prefix channels are listed before they are downloaded.
            store.list(f"{Names.DATA_PREFIX}/*", f"{Names.TRAINING_OUTPUT_PREFIX}/*/source",
                       sid="ListChannels"),
            store.write(MODEL_ARTIFACTS, sid="WriteModelArtifacts"),
            key.use(),
            # OutputDataConfig.KmsKeyId names the key (pipeline_src/jobs/train.py).
            key.encrypt_output(),
            # The training volume is encrypted with the key: SageMaker-held grants only.
            key.grant_to_aws_resources(),
            *_logs(target, ["/aws/sagemaker/TrainingJobs"], f"{prefix}-*", "WriteTrainingLogs"),
            _metrics("/aws/sagemaker/TrainingJobs"),
            *(network.grant_sagemaker_interfaces() if network else []),
        ]
        super().__init__(scope, id_, target=target, purpose="sagemaker-training",
                         description="SageMaker training jobs of the MLOps pipeline",
                         grants=grants)


class ServingRole(SageMakerRole):
    """What the models behind the stage endpoints run as."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 store: ArtifactStore, key: EncryptionKey, images: ContainerImages,
                 alarm_arns: Sequence[str], stages: Sequence[str],
                 model_artifacts: Optional[Sequence[dict]] = None,
                 secondary_regions: Sequence[dict] = (), live_alarms: bool = True) -> None:
        """store/key: where the endpoints' data capture goes, in the role's account;
        model_artifacts: the grants that read the served models' artifacts (default: under
        training/ in store; a stage account reads them from the tooling account's bucket);
        secondary_regions: what serving in a stage's secondary regions adds
        (infra/stage_region.py serving_grants); live_alarms: read an experiment's live-phase
        alarms too (in the pipeline's account always, like the deploy function's grant; in a
        stage account only where one of its stages has a live phase)."""
        names = target.names
        grants = [
            *images.pull(),
            *(model_artifacts if model_artifacts is not None
              else [store.read(MODEL_ARTIFACTS, sid="ReadModelArtifacts")]),
            store.write(f"{Names.DATA_CAPTURE_PREFIX}/*", sid="WriteDataCapture"),
            key.use(),
            *_logs(target, [f"/aws/sagemaker/Endpoints/{names.endpoint(s)}" for s in stages],
                   "*", "WriteEndpointLogs"),
            _metrics("/aws/sagemaker/Endpoints"),
            # UpdateEndpoint's AutoRollbackConfiguration: SageMaker reads the rollback alarms as
            # the model's execution role (deployment-guardrails-configuration.html); an
            # experiment's move to its live config names the challenger's alarms too
            # (lambda_deploy/experiment.py live_deployment).
            statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"], [
                *alarm_arns, *([target.arn("cloudwatch", f"alarm:{names.live_alarm_pattern}")]
                               if live_alarms else [])]),
            *secondary_regions,
            # Models with a VpcConfig (config stages[].network, or the tooling network for a
            # stage in the tooling account): SageMaker attaches their
            # instances with this role (SageMaker Developer Guide, "CreateModel API: Execution
            # Role Permissions": "If you specify a private VPC for your model, add the
            # following permissions").
            *([sagemaker_interfaces_grant("ManageModelNetworkInterfaces")]
              if any(target.config.serves_in_vpc(target.config.stage(s)) for s in stages)
              else []),
        ]
        super().__init__(scope, id_, target=target, purpose="sagemaker-serving",
                         description="Models served by the MLOps pipeline's endpoints",
                         grants=grants)
