"""StageAccountStack: what a stage account holds when a stage's endpoint is not in the tooling
account (config `stages[].account_id`). One stack per account (and the environment's region),
with its own provider and state; nothing is read from the tooling stack: what each side needs of
the other is derived from the configuration (account IDs and names), never a cross-stack
reference, which would fail until the other stack is applied.

In the account: the deployer role the tooling account's deploy function acts as (trust: exactly
that function's role, with the ExternalId), the monitor reader role the tooling monitor job reads
the endpoints and their capture as (infra/monitoring.py MonitorReader), the teardown role
`main.py teardown` removes the deploy step's endpoints as (infra/teardown_role.py), the
serving role the models run as, the key and bucket for endpoint storage and data capture, the
rollback alarms and their topic. The endpoints themselves are created by the deploy step.
"""
from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from infra.artifact_store import MODEL_ARTIFACTS, ArtifactStore
from infra.config import EnvironmentConfig
from infra.dashboard import StageDashboard
from infra.deploy_function import (DEPLOYER, endpoint_grants, has_live_phase,
                                   live_alarm_grant)
from infra.encryption import EncryptionKey
from infra.endpoint_alarms import EndpointAlarms
from infra.environment import DeploymentTarget
from infra.execution_role import ServingRole
from infra.iam import policy_document, statement
from infra.images import ContainerImages
from infra.model_registry import ModelRegistry
from infra.monitoring import MonitorReader, monitored_stages
from infra.naming import Names
from infra.notifications import Notifications
from infra.stage_region import (deployer_grants, reader_grants, serving_grants,
                                stages_in)
from infra.teardown_role import TeardownRole


def tooling_artifact_grants(tooling: DeploymentTarget) -> list[dict]:
    """A stage account's serving role reads model artifacts in the tooling account's bucket,
    decrypted through S3 with the tooling key. The key's ARN is not known here (its ID is
    random) and an alias does not resolve across accounts, so the statement names the tooling
    account's keys and the S3 encryption context of the artifact bucket (with an S3 Bucket Key
    the context is the bucket ARN); the tooling key policy admits exactly this role."""
    bucket_arn = f"arn:{tooling.partition}:s3:::{tooling.names.artifact_bucket(tooling.account_id)}"
    return [
        statement("ReadToolingModelArtifacts", ["s3:GetObject"],
                  [f"{bucket_arn}/{MODEL_ARTIFACTS}"]),
        statement("DecryptToolingModelArtifacts", ["kms:Decrypt"],
                  [tooling.arn("kms", "key/*")],
                  conditions={"StringEquals": {
                      "kms:ViaService": f"s3.{tooling.region}.amazonaws.com",
                      "kms:EncryptionContext:aws:s3:arn": bucket_arn}}),
    ]


class StageAccountStack(TerraformStack):
    def __init__(self, scope: Construct, config: EnvironmentConfig, account_id: str) -> None:
        from infra.stack import configure_terraform

        names = Names(config)
        stack_id = names.target_stack(account_id)
        super().__init__(scope, stack_id)
        configure_terraform(self, config, names, account_id, stack_id,
                            names.state_key(account_id) if config.state_backend else None)
        target = DeploymentTarget(config, names, account_id)
        tooling = target.in_account(config.account_id)
        stages = [s.name for s in config.stages if s.account_id == account_id]

        # No log group here: SageMaker writes the endpoints' logs to groups it creates itself.
        key = EncryptionKey(self, "encryption", target=target, log_groups=False)
        # Endpoint data capture (the only thing the bucket holds in a stage account).
        store = ArtifactStore(self, "artifact_store", target=target, key_arn=key.key_arn)
        notifications = Notifications(self, "notifications", target=target, key_arn=key.key_arn)
        alarms = [EndpointAlarms(self, f"alarms_{stage}", target=target, stage=stage,
                                 topic_arn=notifications.topic_arn) for stage in stages]
        alarm_arns = [arn for a in alarms for arn in a.alarm_arns]
        # The stages' secondary regions (infra/stage_region.py): region -> its stages.
        secondary = {region: stages_in(config, account_id, region)
                     for a, region in config.secondary_placements if a == account_id}
        serving_role = ServingRole(self, "sagemaker_serving", target=target, store=store,
                                   key=key, images=ContainerImages(target, list(secondary)),
                                   alarm_arns=alarm_arns, stages=stages,
                                   live_alarms=has_live_phase(target, stages),
                                   model_artifacts=tooling_artifact_grants(tooling),
                                   secondary_regions=[
                                       g for region, here in secondary.items()
                                       for g in serving_grants(target.in_region(region), here)])
        deploy_function_role = tooling.role_arn("deploy-lambda")
        # The exact role as Principal: IAM checks it exists when this policy is set, so the
        # tooling stack is applied first (README, "Bootstrapping the accounts").
        trust = policy_document([statement(
            "AssumedByToolingDeployFunctionOnly", ["sts:AssumeRole"], None,
            principal={"AWS": deploy_function_role},
            conditions={"StringEquals": {"sts:ExternalId": names.deployer_external_id}})])
        deployer = IamRole(self, "deployer_role", name=names.role(DEPLOYER),
                           description=f"{names.deploy_function} (account {config.account_id}) "
                                       f"deploys the {', '.join(stages)} endpoint(s) as this role",
                           assume_role_policy=trust, max_session_duration=3600)
        IamRolePolicy(self, "deployer_role_deploy", role=deployer.id, name="deploy",
                      policy=policy_document([
                          ModelRegistry.use_from(tooling),
                          *endpoint_grants(target, stages, serving_role, key, alarm_arns),
                          # Only where one of these stages runs an experiment's live phase.
                          *([live_alarm_grant(target)] if has_live_phase(target, stages)
                            else []),
                          # Secondary regions: the model artifact is copied there from the
                          # tooling bucket (lambda_deploy/regions.py).
                          *(tooling_artifact_grants(tooling) if secondary else []),
                          *(g for region, here in secondary.items()
                            for g in deployer_grants(target.in_region(region), here,
                                                     serving_role))]))
        StageDashboard(self, "dashboard", target=target, stages=stages)
        monitored = [s for s in stages if s in monitored_stages(target)]
        # The monitored stages' secondary regions: the reader reads their capture there too.
        read_in = {region: [s for s in here if s in monitored]
                   for region, here in secondary.items()}
        reader = MonitorReader(self, "monitor_reader", target=target, tooling=tooling,
                               store=store, key=key, stages=monitored, secondary_regions=[
                                   g for region, here in read_in.items() if here
                                   for g in reader_grants(target.in_region(region), here)]) \
            if monitored else None
        teardown = TeardownRole(self, "teardown", target=target, tooling=tooling)
        outputs = {
            "deployer_role_arn": (deployer.arn, "Role the tooling deploy function acts as"),
            "teardown_role_arn": (teardown.role_arn, "Role `main.py teardown` removes the "
                                  "deploy step's endpoints as"),
            **({"monitor_reader_role_arn": (reader.role_arn, "Role the tooling monitor job "
                                            "reads endpoints and capture as")} if reader else {}),
            "serving_role_arn": (serving_role.role_arn, "Role the served models run as"),
            "kms_key_arn": (key.key_arn, "Key of endpoint storage and data capture"),
            "data_capture_uri": (store.uri(Names.DATA_CAPTURE_PREFIX), "Data capture"),
            **{f"{stage}_endpoint": (names.endpoint(stage), f"Endpoint of the {stage} stage")
               for stage in stages},
        }
        for output_id, (value, description) in outputs.items():
            TerraformOutput(self, output_id, value=value, description=description)
