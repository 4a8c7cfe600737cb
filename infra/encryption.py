"""EncryptionKey: the customer-managed KMS key everything in the project encrypts with."""
from __future__ import annotations

from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey

from infra.environment import DeploymentTarget
from infra.iam import policy_document, statement

# The account root may administer and use the key so that IAM policies can grant it; listed
# action by action instead of kms:* so a reviewer sees exactly what is delegated.
_DELEGATED_TO_IAM = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt",
    "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation",
    "kms:EnableKey", "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
    "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant",
    "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription",
]
_DATA_KEY_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                 "kms:ReEncryptFrom", "kms:ReEncryptTo"]


class EncryptionKey(Construct):
    """Key with rotation, used by S3, CodePipeline, CodeBuild, logs, SNS, Lambda and endpoints."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 s3_readers: Sequence[str] = (), in_region: bool = False,
                 log_groups: bool = True, topic: bool = True) -> None:
        """s3_readers: roles of other accounts that read objects this key encrypts in S3 (the
        stage accounts' serving roles reading model artifacts); in_region: the key is in the
        target's region, not the stack provider's (the resources' own `region` argument);
        log_groups / topic: the stack's log groups / its SNS topic are encrypted with the key,
        so the key policy admits CloudWatch Logs / the topic's publishers (a key without them
        admits neither: tests/infra/test_iam_policies.py)."""
        super().__init__(scope, id_)
        region = target.region
        root = target.arn("iam", "root", regional=False)
        shares = []
        if s3_readers:
            # A key policy must name another account's principals itself (AWS KMS guide,
            # "Allowing users in other accounts to use a KMS key"); by key ARN only, as aliases
            # do not resolve across accounts. Only through S3 in this region.
            shares.append(statement(
                "StageServingRolesDecryptThroughS3", ["kms:Decrypt"], "*",
                principal={"AWS": sorted({arn.split(":")[4] for arn in s3_readers})},
                conditions={"ArnEquals": {"aws:PrincipalArn": list(s3_readers)},
                            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}))
        services = []
        if log_groups:
            # Log groups of this account only, identified by the encryption context.
            services.append(statement(
                "CloudWatchLogsEncryptsThisAccountsLogGroups", _DATA_KEY_USE, "*",
                principal={"Service": f"logs.{region}.amazonaws.com"},
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                        target.arn("logs", "log-group:*")}}))
        if topic:
            # Alarms and EventBridge rules publish to the encrypted SNS topic. No condition: the
            # KMS calls SNS makes for these publishers carry no caller-account context, so a
            # condition here silently drops alarm and failure notices (the documented form has
            # none). The account guard is on the topic policy's sns:Publish statements.
            services.append(statement(
                "AlarmsAndEventsPublishToEncryptedTopic", ["kms:Decrypt", "kms:GenerateDataKey"],
                "*", principal={"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]}))
        policy = policy_document([
            statement("AccountAdministersAndDelegatesToIam", _DELEGATED_TO_IAM, "*",
                      principal={"AWS": root}),
            *services,
            *shares,
        ])
        # In a key policy "*" as Resource means "this key"; it cannot name itself.
        self.key = KmsKey(self, "key", description=f"{target.names.prefix} MLOps pipeline data",
                          enable_key_rotation=True, rotation_period_in_days=365,
                          deletion_window_in_days=30, policy=policy,
                          region=region if in_region else None)
        KmsAlias(self, "alias", name=target.names.kms_alias, target_key_id=self.key.key_id,
                 region=region if in_region else None)
        self.key_arn = self.key.arn
        self._region = region

    # -- what others may do with the key (the key policy delegates these to IAM) -----------------
    def _via(self, services) -> dict:
        return {"StringEquals": {"kms:ViaService": sorted(
            f"{service}.{self._region}.amazonaws.com" for service in services)}}

    def decrypt(self, *, via=("s3",), sid: str = "DecryptWithProjectKey") -> dict:
        """Read what a service (S3 by default) stored encrypted with the key."""
        return statement(sid, ["kms:Decrypt"], [self.key_arn], conditions=self._via(via))

    def encrypt(self, *, via=("s3",), sid: str = "EncryptWithProjectKey") -> dict:
        """Have a service (S3 by default) store new data encrypted with the key."""
        return statement(sid, ["kms:GenerateDataKey"], [self.key_arn], conditions=self._via(via))

    def use(self, *, via=("s3",), sid: str = "UseProjectKey") -> dict:
        """Both: read and write encrypted data through the services named."""
        return statement(sid, ["kms:Decrypt", "kms:GenerateDataKey"], [self.key_arn],
                         conditions=self._via(via))

    def encrypt_output(self, *, via=("s3",), sid: str = "EncryptJobOutputWithProjectKey") -> dict:
        """kms:Encrypt for a SageMaker job's role whose OutputDataConfig names the key: the API
        reference (OutputDataConfig.KmsKeyId) and sagemaker-roles.html require it; the output is
        S3 server-side encryption, so only through S3."""
        return statement(sid, ["kms:Encrypt"], [self.key_arn], conditions=self._via(via))

    def grant_to_aws_resources(self, *, sid: str = "GrantKeyToSageMakerResources") -> dict:
        """Let SageMaker create the grants its volumes need; only grants for AWS resources."""
        return statement(sid, ["kms:CreateGrant"], [self.key_arn],
                         conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}})
