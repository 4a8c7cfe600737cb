"""ArtifactStore: the one bucket for source, data, training output, pipeline artifacts, capture."""
from __future__ import annotations

from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration)
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls, S3BucketOwnershipControlsRule)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA, S3BucketVersioningVersioningConfiguration)

from infra.environment import DeploymentTarget
from infra.iam import policy_document, statement
from infra.naming import Names

# Keys SageMaker writes a training job's model to (docs/interfaces.md, artifact bucket layout).
MODEL_ARTIFACTS = f"{Names.TRAINING_OUTPUT_PREFIX}/*/output/*"
NONCURRENT_VERSION_DAYS = 90
ABORT_INCOMPLETE_UPLOAD_DAYS = 7


class ArtifactStore(Construct):
    """Versioned, KMS-encrypted, private, TLS-only bucket that emits EventBridge events."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 key_arn: str, model_readers: Sequence[str] = ()) -> None:
        """model_readers: serving roles of stage accounts, which read model artifacts here."""
        super().__init__(scope, id_)
        names = target.names
        self.bucket = S3Bucket(self, "bucket", bucket=names.artifact_bucket(target.account_id,
                                                                            target.region_name),
                               force_destroy=False)
        bucket_id = self.bucket.id
        S3BucketPublicAccessBlock(self, "public_access_block", bucket=bucket_id,
                                  block_public_acls=True, block_public_policy=True,
                                  ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "ownership", bucket=bucket_id,
                                  rule=S3BucketOwnershipControlsRule(
                                      object_ownership="BucketOwnerEnforced"))
        S3BucketVersioningA(self, "versioning", bucket=bucket_id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(
                                status="Enabled"))
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", bucket=bucket_id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=key_arn)),
                bucket_key_enabled=True)])
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=bucket_id, rule=[
            S3BucketLifecycleConfigurationRule(
                id="expire-noncurrent-versions-and-abort-incomplete-uploads", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                noncurrent_version_expiration=[
                    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                        noncurrent_days=NONCURRENT_VERSION_DAYS)],
                abort_incomplete_multipart_upload=[
                    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS)]),
            # A job claim matters while Lambda may still deliver the job (at most 6 hours).
            S3BucketLifecycleConfigurationRule(
                id="expire-deploy-job-claims", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(
                    prefix=f"{Names.DEPLOY_CLAIMS_PREFIX}/")],
                expiration=[S3BucketLifecycleConfigurationRuleExpiration(
                    days=Names.DEPLOY_CLAIMS_EXPIRY_DAYS)],
                noncurrent_version_expiration=[
                    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                        noncurrent_days=1)]),
        ])
        # Object-created events reach EventBridge, which starts the pipeline on a new source.
        S3BucketNotification(self, "eventbridge", bucket=bucket_id, eventbridge=True)
        shares = []
        if model_readers:
            # Cross-account: the stage account's identity policy and this policy must both
            # allow (IAM User Guide, "Cross-account policy evaluation logic"). Principals are
            # the accounts, narrowed to the exact roles by aws:PrincipalArn, so this applies
            # before those roles exist (a role ARN as Principal must exist when set).
            shares.append(statement(
                "StageServingRolesReadModelArtifacts", ["s3:GetObject"],
                [f"{self.bucket.arn}/{MODEL_ARTIFACTS}"],
                principal={"AWS": sorted({arn.split(":")[4] for arn in model_readers})},
                conditions={"ArnEquals": {"aws:PrincipalArn": list(model_readers)}}))
        self._statements = [
            statement("DenyInsecureTransport", ["s3:*"],
                      [self.bucket.arn, f"{self.bucket.arn}/*"], effect="Deny",
                      principal={"AWS": "*"},
                      conditions={"Bool": {"aws:SecureTransport": "false"}}),
            *shares,
        ]
        self._policy = S3BucketPolicy(self, "policy", bucket=bucket_id,
                                      policy=policy_document(self._statements))
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn

    def require_endpoint(self, endpoint_id: str, role_arns: Sequence[str]) -> None:
        """Refuse these roles any access that does not come through the VPC endpoint (config
        `network`: they run in its subnets). Only these roles: CodePipeline (its artifacts),
        Terraform (the source zip), SageMaker and people uploading data act from outside."""
        self._statements.append(statement(
            "InVpcRolesOnlyThroughTheEndpoint", ["s3:*"],
            [self.bucket.arn, f"{self.bucket.arn}/*"], effect="Deny", principal={"AWS": "*"},
            conditions={"ArnEquals": {"aws:PrincipalArn": list(role_arns)},
                        "StringNotEquals": {"aws:SourceVpce": endpoint_id}}))
        self._policy.policy = policy_document(self._statements)

    def objects_arn(self, pattern: str) -> str:
        """ARN of the objects whose keys match pattern (e.g. "data/*")."""
        return f"{self.bucket_arn}/{pattern}"

    def uri(self, key: str) -> str:
        """s3:// URI of a key or prefix in the bucket, as jobs and outputs are told it."""
        return f"s3://{self.bucket_name}/{key}"

    # -- what others may do with the bucket --------------------------------------------------------
    def read(self, *patterns: str, sid: str, versions: bool = False) -> dict:
        actions = ["s3:GetObject"] + (["s3:GetObjectVersion"] if versions else [])
        return statement(sid, actions, [self.objects_arn(p) for p in patterns])

    def read_versions(self, *patterns: str, sid: str) -> dict:
        """Read exact object versions only (a reference pinned by its version ID)."""
        return statement(sid, ["s3:GetObjectVersion"], [self.objects_arn(p) for p in patterns])

    def write(self, *patterns: str, sid: str) -> dict:
        return statement(sid, ["s3:PutObject"], [self.objects_arn(p) for p in patterns])

    def read_write(self, *patterns: str, sid: str, versions: bool = False) -> dict:
        actions = ["s3:GetObject", "s3:PutObject"] + (["s3:GetObjectVersion"] if versions else [])
        return statement(sid, actions, [self.objects_arn(p) for p in patterns])

    def list(self, *prefix_patterns: str, sid: str) -> dict:
        """List keys, only under the given prefixes (the s3:prefix of the request)."""
        return statement(sid, ["s3:ListBucket"], [self.bucket_arn],
                         conditions={"StringLike": {"s3:prefix": list(prefix_patterns)}})

    def locate(self, *, sid: str = "LocateBucket") -> dict:
        """What CodeBuild checks of the bucket of an S3 source before downloading it."""
        return statement(sid, ["s3:GetBucketAcl", "s3:GetBucketLocation"], [self.bucket_arn])

    def check_versioning(self, *, sid: str = "CheckSourceBucketVersioning") -> dict:
        return statement(sid, ["s3:GetBucketVersioning"], [self.bucket_arn])
