"""SageMakerExecutionRole: what training jobs and the served model run as."""
from __future__ import annotations

from constructs import Construct

from infra.environment import DeploymentTarget
from infra.iam import kms_use_statement, service_role, statement
from infra.naming import Names


class SageMakerExecutionRole(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget, bucket_arn: str,
                 key_arn: str) -> None:
        super().__init__(scope, id_)
        names = target.names
        sagemaker_logs = target.log_group_arn("/aws/sagemaker/*")
        self.role = service_role(
            self, "role", name=names.role("sagemaker-execution"),
            service="sagemaker.amazonaws.com", account_id=target.account_id,
            description="Training jobs and endpoints of the MLOps pipeline",
            policies={"training-and-serving": [
                statement("ReadTrainingData", ["s3:GetObject"],
                          [f"{bucket_arn}/{Names.DATA_PREFIX}/*"]),
                statement("ReadWriteTrainingOutput", ["s3:GetObject", "s3:PutObject"],
                          [f"{bucket_arn}/{Names.TRAINING_OUTPUT_PREFIX}/*"]),
                statement("WriteDataCapture", ["s3:PutObject"],
                          [f"{bucket_arn}/{Names.DATA_CAPTURE_PREFIX}/*"]),
                statement("ListProjectPrefixes", ["s3:ListBucket"], [bucket_arn],
                          conditions={"StringLike": {"s3:prefix": [
                              f"{Names.DATA_PREFIX}/*", f"{Names.TRAINING_OUTPUT_PREFIX}/*"]}}),
                kms_use_statement(key_arn),
                # Volumes and endpoint storage: SageMaker creates grants on our behalf only.
                statement("GrantKeyToSageMakerResources", ["kms:CreateGrant"], [key_arn],
                          conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
                statement("WriteSageMakerLogs", ["logs:CreateLogGroup", "logs:CreateLogStream",
                                                 "logs:DescribeLogStreams", "logs:PutLogEvents"],
                          [sagemaker_logs, f"{sagemaker_logs}:log-stream:*"]),
                # UpdateEndpoint's AutoRollbackConfiguration: SageMaker reads the rollback alarms
                # as this role.
                statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"],
                          [target.arn("cloudwatch", f"alarm:{names.prefix}-*")]),
                # PutMetricData has no resource-level permissions; the namespace condition
                # limits it to SageMaker's own metrics.
                statement("PublishSageMakerMetrics", ["cloudwatch:PutMetricData"], "*",
                          conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
            ]})
        self.role_arn = self.role.arn
        self.role_name = names.role("sagemaker-execution")
