"""Who runs as which role, and what AWS services do on each role's behalf.

This is the one place to register:
- code that runs under a role (ROLE_CODE): its AWS calls are recorded during the moto-backed
  tests and must be authorized by that role's policies;
- clients made with other credentials (CLIENT_FACTORIES);
- service needs (call_service_needs / stack_service_needs): permissions AWS services exercise as
  a role (SageMaker pulling an image, CodeBuild writing logs, ...), each with the AWS page that
  requires it;
- grants no recorded call or declared need uses, each with its reason (EXCESS_ALLOWED).
Roles are named by purpose, as ``infra/naming.py`` ``Names.role(purpose)`` names them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

# Test folders whose moto-backed tests exercise the role code (the calls are recorded there).
RECORDING_TESTS = ("tests/lambda_deploy", "tests/pipeline_src/jobs")

# Module (or package) -> role purpose whose credentials the code runs with.
ROLE_CODE = {
    # Checked before the package entry below: the first match wins.
    "lambda_deploy.retrain": "retrain-lambda",
    "lambda_deploy": "deploy-lambda",
    "pipeline_src.jobs.monitor": "codebuild-monitor",
    "pipeline_src.jobs.train": "codebuild-train",
    "pipeline_src.jobs.test": "codebuild-test",
    # The training entry point and the inference handlers run in SageMaker's containers with
    # network isolation: the static scan proves they call no AWS API.
    "pipeline_src.train": "sagemaker-training",
    "pipeline_src.inference": "sagemaker-serving",
}
# Helpers shared by several roles' code: their calls belong to whichever role calls them.
SHARED_CODE = {"pipeline_src.jobs.common": ("codebuild-train", "codebuild-test",
                                             "codebuild-monitor"),
               # The one AWS client factory (both zips carry it; ops uses it with no role).
               "aws_clients": ("deploy-lambda", "retrain-lambda", "codebuild-train",
                               "codebuild-test", "codebuild-monitor")}
# Client factories whose clients act as another principal than the calling code's role.
CLIENT_FACTORIES = {
    # CodePipeline hands the deploy step temporary credentials for its input artifact: a session
    # of the pipeline's service role (CodePipeline User Guide, "Invoke an AWS Lambda function in
    # a pipeline", artifactCredentials).
    "lambda_deploy.aws.artifact_s3_client": "codepipeline",
    # The monitor job reads an endpoint in a stage account as that account's reader role
    # (AssumeRole; infra/monitoring.py MonitorReader).
    "pipeline_src.jobs.monitor.reader_clients": "monitor-reader",
}
# Operations built from a string the static scan cannot read, per module: what they can be.
DYNAMIC_OPERATIONS = {
    # cleanup._owned: paginate(client, f"list_{kind}s", ...) for kind in ("endpoint_config", "model").
    "lambda_deploy.cleanup": {("sagemaker", "ListEndpointConfigs"), ("sagemaker", "ListModels")},
    # Call and paginate helpers: the operation is their caller's, read at the call site.
    "aws_clients": set(),
    "pipeline_src.jobs.common": set(),
}

# Calls a test makes on purpose where the role must NOT be allowed: (test name, action) -> why.
# The sufficiency test checks they are denied.
EXPECTED_DENIALS = {
    ("test_package_of_another_group_is_refused", "sagemaker:DescribeModelPackage"):
        "another environment's package: the deploy step refuses it, and IAM refusing the "
        "describe first fails the stage the same way",
    ("test_refused_failure_reply_does_not_raise", "sagemaker:DescribeModelPackage"):
        "a package of a group that is not the environment's (model-package/x/1): refused",
}

# Grants that no recorded call or declared need uses, with the reason they stay.
EXCESS_ALLOWED: dict[tuple[str, str], str] = {}


def role_of_module(module: str) -> Optional[str]:
    for name, role in ROLE_CODE.items():
        if module == name or module.startswith(name + "."):
            return role
    return None


# --- service needs ----------------------------------------------------------------------------

# Each page below was re-read (issue 20) and is cited with the section that states the need.
_SM = "https://docs.aws.amazon.com/sagemaker/latest/dg/"
SAGEMAKER_TRAINING_DOC = (
    f"{_SM}sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms (CreateTrainingJob API: "
    "Execution Role Permissions: logs, cloudwatch:PutMetricData, s3:ListBucket/GetObject on the "
    "InputDataConfig S3Uri, s3:PutObject on OutputDataConfig.S3OutputPath, ECR pull of "
    "AlgorithmSpecification.TrainingImage; SSE-KMS input: kms:Decrypt)")
TRAINING_OUTPUT_KEY_DOC = (
    f"{_SM}sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms (\"If you specify a KMS "
    "key in the output configuration of your training job, add ... kms:Encrypt\") and "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_OutputDataConfig.html "
    "(KmsKeyId: \"the SageMaker execution role must include permissions to call kms:Encrypt\"; "
    "neither page exempts a key ARN; SageMaker encrypts the artifacts with S3 server-side "
    "encryption, hence kms:ViaService s3)")
TRAINING_VOLUME_KEY_DOC = (
    f"{_SM}sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms (\"If you specify a volume "
    "KMS key in the resource configuration of your training job, add ... kms:CreateGrant\"); "
    f"{_SM}api-permissions-reference.html (CreateTrainingJob: kms:CreateGrant of the caller "
    "\"only if ... ResourceConfig has a specified VolumeKmsKeyId and the associated role does not "
    "have a policy that permits this action\": the training role has it)")
SAGEMAKER_MODEL_DOC = (
    f"{_SM}sagemaker-roles.html#sagemaker-roles-createmodel-perms (CreateModel API: Execution "
    "Role Permissions: logs, cloudwatch:PutMetricData, s3:GetObject on ModelDataUrl, ECR pull "
    "of PrimaryContainer.Image)")
S3_KMS_DOC = ("https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html "
              "(Permissions: kms:GenerateDataKey to upload, kms:Decrypt to download an SSE-KMS "
              "object)")
ROLLBACK_DOC = (f"{_SM}deployment-guardrails-configuration.html (auto-rollback alarms: the "
                "model's execution role needs cloudwatch:DescribeAlarms)")
CAPTURE_DOC = (f"{_SM}model-monitor-data-capture.html and "
               "https://docs.aws.amazon.com/sagemaker/latest/APIReference/"
               "API_DataCaptureConfig.html (KmsKeyId: S3 server-side encryption of the capture)")
ENDPOINT_KMS_DOC = (
    f"{_SM}api-permissions-reference.html (CreateEndpoint: \"kms:CreateGrant (required only if "
    "the associated EndPointConfig has a KmsKeyId specified)\"; no kms:DescribeKey) and "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html "
    "(KmsKeyId: \"The KMS key policy must grant permission to the IAM role that you specify in "
    "your CreateEndpoint, UpdateEndpoint requests\"): the caller, not the model's role")
CODEBUILD_ROLE_DOC = ("https://docs.aws.amazon.com/codebuild/latest/userguide/"
                      "setting-up-service-role.html (Create a CodeBuild service role: "
                      "CloudWatchLogsPolicy, S3GetObjectPolicy, S3PutObjectPolicy, "
                      "S3BucketIdentity)")
CODEPIPELINE_ROLE_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
                         "how-to-custom-role.html#how-to-custom-role-policy (CodePipeline "
                         "service role policy: artifact bucket objects)")
CODEPIPELINE_CODEBUILD_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
                              "action-reference-CodeBuild.html#edit-role-codebuild (Service "
                              "role permissions: CodeBuild action: codebuild:BatchGetBuilds, "
                              "codebuild:StartBuild)")
CODEPIPELINE_LAMBDA_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
                           "action-reference-Lambda.html (Service role permissions: Lambda "
                           "action: lambda:InvokeFunction on the function)")
CODEPIPELINE_SNS_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
                        "approvals-service-role-permissions.html (Grant Amazon SNS permissions "
                        "to a CodePipeline service role: sns:Publish)")
CODEPIPELINE_S3_SOURCE_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
                              "action-reference-S3.html (Service role permissions: S3 source "
                              "action: s3:GetObject, s3:GetObjectVersion, "
                              "s3:GetBucketVersioning)")
CODEPIPELINE_CONNECTION_DOC = (
    "https://docs.aws.amazon.com/codepipeline/latest/userguide/"
    "action-reference-CodestarConnectionSource.html (CodeStarSourceConnection: service role "
    "permissions: UseConnection on the connection the action names) and "
    "https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html (\"When specifying a "
    "resource in the IAM policy, the service prefix needs to match that of the resource\": "
    "codeconnections:UseConnection for arn:aws:codeconnections:..., codestar-connections: for "
    "a connection created before the rename)")
CODEPIPELINE_SOURCE_OUTPUT_DOC = (
    "https://docs.aws.amazon.com/codepipeline/latest/userguide/"
    "action-reference-CodestarConnectionSource.html (Output artifacts: CODE_ZIP, a ZIP of the "
    "repository at the commit, stored in the artifact store like every source action's output)")
EVENTS_CODEBUILD_DOC = ("https://docs.aws.amazon.com/eventbridge/latest/userguide/"
                        "eb-use-identity-based.html#eb-target-permissions (Permissions required "
                        "for EventBridge to access targets using IAM roles; the CodeBuild "
                        "target calls StartBuild)")
EVENTS_DOC = ("https://docs.aws.amazon.com/codepipeline/latest/userguide/"
              "create-cloudtrail-S3-source-cli.html (the EventBridge role's permissions policy: "
              "codepipeline:StartPipelineExecution on the pipeline)")
LAMBDA_LOGS_DOC = ("https://docs.aws.amazon.com/lambda/latest/dg/"
                   "monitoring-cloudwatchlogs.html#monitoring-cloudwatchlogs-prereqs "
                   "(execution role: logs:CreateLogStream, logs:PutLogEvents; the group exists)")
LAMBDA_XRAY_DOC = ("https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html "
                   "(Execution role permissions: xray:PutTraceSegments, "
                   "xray:PutTelemetryRecords)")
SNS_KMS_DOC = ("https://docs.aws.amazon.com/sns/latest/dg/"
               "sns-key-management.html#sns-what-permissions-for-sse")
LOGS_KMS_DOC = ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/"
                "encrypt-log-data-kms.html")
ALARM_SNS_DOC = ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/"
                 "alarms-and-actions.html")
AUTOSCALING_DOC = ("https://docs.aws.amazon.com/autoscaling/application/userguide/"
                   "security_iam_id-based-policy-examples.html (permissions required for "
                   "Application Auto Scaling API actions)")
EVENTS_SNS_DOC = ("https://docs.aws.amazon.com/eventbridge/latest/userguide/"
                  "eb-use-resource-based.html#eb-sns-permissions")

# Compute in a VPC: the service creates its network interfaces as the compute's role.
CODEBUILD_VPC_DOC = ("https://docs.aws.amazon.com/codebuild/latest/userguide/"
                     "auth-and-access-control-iam-identity-based-access-control.html"
                     "#customer-managed-policies-example-create-vpc-network-interface (Allow "
                     "CodeBuild access to AWS services required to create a VPC network "
                     "interface: ec2:CreateNetworkInterface, DescribeDhcpOptions, "
                     "DescribeNetworkInterfaces, DeleteNetworkInterface, DescribeSubnets, "
                     "DescribeSecurityGroups, DescribeVpcs on *; CreateNetworkInterfacePermission "
                     "on network-interface/* with ec2:Subnet and ec2:AuthorizedService "
                     "codebuild.amazonaws.com)")
LAMBDA_VPC_DOC = ("https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html "
                  "(Required IAM permissions: ec2:CreateNetworkInterface, "
                  "DescribeNetworkInterfaces (only on \"*\"), DescribeSubnets, "
                  "DeleteNetworkInterface, AssignPrivateIpAddresses, UnassignPrivateIpAddresses; "
                  "the AWS managed policy AWSLambdaVPCAccessExecutionRole)")
SAGEMAKER_VPC_DOC = (f"{_SM}sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms "
                     "(\"If you specify a private VPC for your training job, add the following "
                     "permissions\": ec2:CreateNetworkInterface, "
                     "CreateNetworkInterfacePermission, DeleteNetworkInterface, "
                     "DeleteNetworkInterfacePermission, DescribeNetworkInterfaces, DescribeVpcs, "
                     "DescribeDhcpOptions, DescribeSubnets, DescribeSecurityGroups)")
SAGEMAKER_MODEL_VPC_DOC = (f"{_SM}sagemaker-roles.html#sagemaker-roles-createmodel-perms "
                           "(CreateModel API: Execution Role Permissions: \"If you specify a "
                           "private VPC for your model, add the following permissions\": the "
                           "same nine ec2 actions as a training job's)")
CODEARTIFACT_PIP_DOC = ("https://docs.aws.amazon.com/codeartifact/latest/ug/"
                        "using-python-packages-in-codebuild.html (Using Python packages in "
                        "CodeBuild: codeartifact:GetAuthorizationToken, "
                        "codeartifact:GetRepositoryEndpoint, codeartifact:ReadFromRepository, "
                        "sts:GetServiceBearerToken with sts:AWSServiceName "
                        "codeartifact.amazonaws.com) and https://docs.aws.amazon.com/codeartifact/"
                        "latest/ug/tokens-authentication.html")
FLOW_LOGS_DOC = ("https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html "
                 "(IAM role for publishing flow logs to CloudWatch Logs: logs:CreateLogStream, "
                 "PutLogEvents, DescribeLogGroups, DescribeLogStreams; the group exists)")
CODEBUILD_VPC_ACTIONS = ("CreateNetworkInterface", "DeleteNetworkInterface", "DescribeDhcpOptions",
                         "DescribeNetworkInterfaces", "DescribeSecurityGroups", "DescribeSubnets",
                         "DescribeVpcs")
LAMBDA_VPC_ACTIONS = ("AssignPrivateIpAddresses", "CreateNetworkInterface",
                      "DeleteNetworkInterface", "DescribeNetworkInterfaces", "DescribeSubnets",
                      "UnassignPrivateIpAddresses")
SAGEMAKER_VPC_ACTIONS = ("CreateNetworkInterface", "CreateNetworkInterfacePermission",
                         "DeleteNetworkInterface", "DeleteNetworkInterfacePermission",
                         "DescribeDhcpOptions", "DescribeNetworkInterfaces",
                         "DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")


@dataclass(frozen=True)
class ServiceNeed:
    """A permission a service exercises as `principal` (a role ARN or a service principal)."""

    principal: str
    action: str
    resource: str
    context: tuple
    why: str
    doc: str


def _need(principal, action, resource, why, doc, **context) -> ServiceNeed:
    from tests.iam.authz import freeze_context
    return ServiceNeed(principal, action, resource, freeze_context(context), why, doc)


def _s3_object_arn(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.replace("s3://", "", 1).partition("/")
    return bucket, key


def image_repository_arn(image: str) -> str:
    """ECR repository ARN of an image URI <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."""
    from tests.iam.authz import arn_of

    registry, _, rest = image.partition("/")
    account, _, _, region = registry.split(".")[:4]
    return arn_of("ecr", "repository", region, account, RepositoryName=rest.split(":")[0])


def _ecr_pull(role_arn: str, image: str, why: str, doc: str) -> list[ServiceNeed]:
    repository = image_repository_arn(image)
    return [_need(role_arn, f"ecr:{action}", repository, why, doc)
            for action in ("BatchCheckLayerAvailability", "BatchGetImage",
                           "GetDownloadUrlForLayer")] + [
        _need(role_arn, "ecr:GetAuthorizationToken", "*", why, doc)]


def _s3_read(role_arn, world, uri: str, why: str, doc: str) -> list:
    bucket, key = _s3_object_arn(uri)
    needs = [_need(role_arn, "s3:GetObject", world.object_arn(bucket, key), why, doc)]
    needs += world.kms_for_s3(role_arn, bucket, "kms:Decrypt", why)
    return needs


def _s3_write(role_arn, world, uri: str, kms_key: Optional[str], why: str, doc) -> list:
    bucket, key = _s3_object_arn(uri)
    needs = [_need(role_arn, "s3:PutObject", world.object_arn(bucket, key), why, doc)]
    needs += world.kms_for_s3(role_arn, bucket, "kms:GenerateDataKey", why, key_arn=kms_key)
    return needs


def _logs(role_arn, world, group: str, stream: str, why: str, doc, create_group=True,
          region=None) -> list:
    """region: where the writer runs (an endpoint's), default the stack's."""
    from tests.iam.authz import arn_of

    region = region or world.model.region
    group_arn = arn_of("logs", "log-group", region, world.model.account, LogGroupName=group)
    stream_arn = arn_of("logs", "log-stream", region, world.model.account, LogGroupName=group,
                        LogStreamName=stream)
    needs = [_need(role_arn, "logs:CreateLogStream", stream_arn, why, doc),
             _need(role_arn, "logs:PutLogEvents", stream_arn, why, doc)]
    if create_group:
        needs += [_need(role_arn, "logs:CreateLogGroup", group_arn, why, doc),
                  _need(role_arn, "logs:DescribeLogStreams", group_arn, why, doc)]
    return needs


def call_service_needs(world) -> Iterable[ServiceNeed]:
    """Needs that follow from what the recorded calls asked SageMaker to do."""
    yield from _autoscaling_needs(world)
    for call in world.role_calls("CreateTrainingJob"):
        p = call.params
        role, job = p["RoleArn"], p["TrainingJobName"]
        why = f"SageMaker runs training job {job} as its RoleArn"
        doc = SAGEMAKER_TRAINING_DOC
        yield from _ecr_pull(role, p["AlgorithmSpecification"]["TrainingImage"], why, doc)
        for channel in p.get("InputDataConfig", []):
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = _s3_object_arn(uri)
            yield _need(role, "s3:ListBucket", world.arn("s3", "bucket", BucketName=bucket),
                        f"{why}: lists channel {channel['ChannelName']}", doc,
                        **{"s3:prefix": prefix})
            for key in world.objects_under(bucket, prefix):
                yield from _s3_read(role, world, f"s3://{bucket}/{key}",
                                    f"{why}: downloads channel {channel['ChannelName']}", doc)
        output = p["OutputDataConfig"]
        output_key = output.get("KmsKeyId")
        for name in ("model.tar.gz", "output.tar.gz"):
            yield from _s3_write(role, world, f"{output['S3OutputPath']}/{job}/output/{name}",
                                 output_key, f"{why}: uploads {name}", doc)
        if output_key:
            yield _need(role, "kms:Encrypt", output_key,
                        f"{why}: OutputDataConfig.KmsKeyId encrypts the model artifacts",
                        TRAINING_OUTPUT_KEY_DOC,
                        **{"kms:ViaService": f"s3.{world.model.region}.amazonaws.com"})
        volume_key = p.get("ResourceConfig", {}).get("VolumeKmsKeyId")
        if volume_key:
            yield _need(role, "kms:CreateGrant", volume_key,
                        f"{why}: encrypts the training volume", TRAINING_VOLUME_KEY_DOC,
                        **{"kms:GrantIsForAWSResource": "true"})
        yield from _logs(role, world, "/aws/sagemaker/TrainingJobs", f"{job}/algo-1-1700000000",
                         f"{why}: writes its logs", doc)
        yield _need(role, "cloudwatch:PutMetricData", "*", f"{why}: publishes its metrics",
                    doc, **{"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})

    models = {c.params["ModelName"]: c for c in world.role_calls("CreateModel")}
    configs = {c.params["EndpointConfigName"]: c for c in world.role_calls("CreateEndpointConfig")}
    for call in models.values():
        p = call.params
        role = p["ExecutionRoleArn"]
        why = f"SageMaker runs model {p['ModelName']} as its ExecutionRoleArn"
        for container in p.get("Containers", []) or [p.get("PrimaryContainer", {})]:
            spec = world.container_of(container)
            yield from _ecr_pull(role, spec["Image"], why, SAGEMAKER_MODEL_DOC)
            yield from _s3_read(role, world, spec["ModelDataUrl"],
                                f"{why}: downloads the model artifact", SAGEMAKER_MODEL_DOC)
            submit = spec.get("Environment", {}).get("SAGEMAKER_SUBMIT_DIRECTORY")
            if submit and submit.startswith("s3://"):
                yield from _s3_read(role, world, submit, f"{why}: downloads the code bundle",
                                    SAGEMAKER_MODEL_DOC)
        if p.get("VpcConfig"):
            # SageMaker attaches the model's instances to the subnets as the execution role.
            for act in SAGEMAKER_VPC_ACTIONS:
                yield _need(role, f"ec2:{act}", "*", f"{why}: in subnets "
                            f"{', '.join(p['VpcConfig']['Subnets'])}", SAGEMAKER_MODEL_VPC_DOC)
    for call in world.role_calls("CreateEndpoint", "UpdateEndpoint"):
        p = call.params
        endpoint, config_name = p["EndpointName"], p["EndpointConfigName"]
        config = configs.get(config_name)
        if config is None:
            continue
        caller = world.role_arn(call.role)
        key = config.params.get("KmsKeyId")
        if key:
            why = f"{call.operation} {endpoint} with config {config_name}: storage volume key"
            yield _need(caller, "kms:CreateGrant", key, why, ENDPOINT_KMS_DOC,
                        **{"kms:GrantIsForAWSResource": "true"})
        for variant in config.params["ProductionVariants"]:
            model = models.get(variant["ModelName"])
            if model is None:
                continue
            role = model.params["ExecutionRoleArn"]
            why = f"endpoint {endpoint} serves model {variant['ModelName']}"
            yield from _logs(role, world, f"/aws/sagemaker/Endpoints/{endpoint}",
                             f"{variant['VariantName']}/i-0123456789abcdef0",
                             f"{why}: writes its logs", SAGEMAKER_MODEL_DOC,
                             region=call.region)
            yield _need(role, "cloudwatch:PutMetricData", "*", f"{why}: publishes metrics",
                        SAGEMAKER_MODEL_DOC, **{"cloudwatch:namespace": "/aws/sagemaker/Endpoints"})
            capture = config.params.get("DataCaptureConfig")
            if capture and capture.get("EnableCapture"):
                uri = (f"{capture['DestinationS3Uri']}/{endpoint}/{variant['VariantName']}/"
                       "2026/01/01/00/capture.jsonl")
                yield from _s3_write(role, world, uri, capture.get("KmsKeyId"),
                                     f"{why}: writes data capture", CAPTURE_DOC)
            rollback = (p.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration")
            for alarm in (rollback or {}).get("Alarms", []):
                yield _need(role, "cloudwatch:DescribeAlarms",
                            world.arn("cloudwatch", "alarm", AlarmName=alarm["AlarmName"]),
                            f"SageMaker watches rollback alarm {alarm['AlarmName']} while "
                            f"updating {endpoint}, as the model's execution role", ROLLBACK_DOC)


def _autoscaling_needs(world) -> Iterable[ServiceNeed]:
    """Application Auto Scaling checks the caller's own permissions on what it will manage."""
    service = "sagemaker.application-autoscaling.amazonaws.com"
    for call in world.role_calls("RegisterScalableTarget", "PutScalingPolicy",
                                 "DeleteScalingPolicy"):
        p = call.params
        if p.get("ServiceNamespace") != "sagemaker":
            continue
        caller = world.role_arn(call.role)
        resource_id = p["ResourceId"]  # endpoint/<name>/variant/<variant>
        endpoint = resource_id.split("/")[1]
        why = f"{call.operation} {resource_id} by {call.where}"
        if call.operation == "RegisterScalableTarget":
            for act in ("sagemaker:DescribeEndpoint",
                        "sagemaker:UpdateEndpointWeightsAndCapacities"):
                yield _need(caller, act, world.arn("sagemaker", "endpoint", EndpointName=endpoint),
                            why, AUTOSCALING_DOC)
            yield _need(caller, "iam:CreateServiceLinkedRole",
                        world.arn("iam", "role", RoleNameWithPath=(
                            f"aws-service-role/{service}/"
                            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")),
                        f"{why}: first registration creates the service-linked role",
                        AUTOSCALING_DOC, **{"iam:AWSServiceName": service})
        else:
            from tests.iam.authz import arn_of

            # The policy's alarms are in the scaled endpoint's region: the call's.
            alarm = arn_of("cloudwatch", "alarm", call.region or world.model.region,
                           world.model.account,
                           AlarmName=f"TargetTracking-{resource_id}-AlarmHigh-0123abcd")
            actions = (("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm")
                       if call.operation == "PutScalingPolicy"
                       else ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"))
            for act in actions:
                yield _need(caller, act, alarm, f"{why}: target-tracking alarms",
                            AUTOSCALING_DOC)


def stack_service_needs(model, prefix: str) -> Iterable[ServiceNeed]:
    """Needs that follow from how the stack wires services together."""
    from tests.iam.authz import arn_of

    region, account = model.region, model.account

    def arn(prefix_, type_, **values):
        return arn_of(prefix_, type_, region, account, **values)

    def kms(principal, action, key, why, doc, **context):
        return _need(principal, action, key, why, doc, **context)

    pipelines = model.all_of("aws_codepipeline")
    for lid, pipeline in pipelines.items():
        role = model.resolve(pipeline["role_arn"])
        name = model.resolve(pipeline["name"])
        (store,) = pipeline["artifact_store"]
        bucket = model.resolve(store["location"])
        store_key = model.resolve(store["encryption_key"]["id"])
        artifact_prefix = name[:20]

        def artifact(artifact_name: str) -> str:
            return arn("s3", "object", BucketName=bucket,
                       ObjectName=f"{artifact_prefix}/{artifact_name[:10]}/AbCdE12")
        for stage in pipeline["stage"]:
            for action in stage["action"]:
                config = {k: model.resolve(v) for k, v in action.get("configuration", {}).items()}
                why = f"pipeline {name} action {action['name']}"
                provider = action["provider"]
                if provider == "S3":
                    source = arn("s3", "object", BucketName=config["S3Bucket"],
                                 ObjectName=config["S3ObjectKey"])
                    for act in ("s3:GetObject", "s3:GetObjectVersion"):
                        yield _need(role, act, source, f"{why}: reads the source object",
                                    CODEPIPELINE_S3_SOURCE_DOC)
                    yield _need(role, "s3:GetBucketVersioning",
                                arn("s3", "bucket", BucketName=config["S3Bucket"]),
                                f"{why}: checks the source bucket is versioned",
                                CODEPIPELINE_S3_SOURCE_DOC)
                    yield kms(role, "kms:Decrypt", store_key, f"{why}: reads the source object",
                              S3_KMS_DOC, **{"kms:ViaService": f"s3.{region}.amazonaws.com"})
                if provider == "CodeStarSourceConnection":
                    connection = config["ConnectionArn"]
                    yield _need(role, f"{connection.split(':')[2]}:UseConnection", connection,
                                f"{why}: fetches {config['FullRepositoryId']} at "
                                f"{config['BranchName']} through the connection",
                                CODEPIPELINE_CONNECTION_DOC)
                for out in action.get("output_artifacts") or []:
                    if action["category"] == "Source":
                        yield _need(role, "s3:PutObject", artifact(out),
                                    f"{why}: stores output artifact {out}",
                                    CODEPIPELINE_ROLE_DOC if provider == "S3"
                                    else CODEPIPELINE_SOURCE_OUTPUT_DOC)
                        yield kms(role, "kms:GenerateDataKey", store_key,
                                  f"{why}: encrypts artifact {out}", S3_KMS_DOC,
                                  **{"kms:ViaService": f"s3.{region}.amazonaws.com"})
                if provider == "CodeBuild":
                    project = next(p for p in model.all_of("aws_codebuild_project").values()
                                   if model.resolve(p["name"]) == config["ProjectName"])
                    project_arn = arn("codebuild", "project", ProjectName=config["ProjectName"])
                    for act in ("codebuild:StartBuild", "codebuild:BatchGetBuilds"):
                        yield _need(role, act, project_arn, f"{why}: runs the build",
                                    CODEPIPELINE_CODEBUILD_DOC)
                    build_role = model.resolve(project["service_role"])
                    build_key = model.resolve(project["encryption_key"])
                    bwhy = f"CodeBuild project {config['ProjectName']} in {why}"
                    for art in action.get("input_artifacts") or []:
                        for act in ("s3:GetObject", "s3:GetObjectVersion"):
                            yield _need(build_role, act, artifact(art),
                                        f"{bwhy}: downloads input artifact {art}",
                                        CODEBUILD_ROLE_DOC)
                        yield kms(build_role, "kms:Decrypt", store_key,
                                  f"{bwhy}: decrypts input artifact {art}", S3_KMS_DOC,
                                  **{"kms:ViaService": f"s3.{region}.amazonaws.com"})
                    for out in action.get("output_artifacts") or []:
                        yield _need(build_role, "s3:PutObject", artifact(out),
                                    f"{bwhy}: uploads output artifact {out}", CODEBUILD_ROLE_DOC)
                        yield kms(build_role, "kms:GenerateDataKey", build_key,
                                  f"{bwhy}: encrypts output artifact {out}", S3_KMS_DOC,
                                  **{"kms:ViaService": f"s3.{region}.amazonaws.com"})
                    group = model.resolve(
                        project["logs_config"]["cloudwatch_logs"]["group_name"])
                    yield from _logs(build_role, _World(model), group, "0b1c2d3e-build",
                                     f"{bwhy}: writes build logs", CODEBUILD_ROLE_DOC,
                                     create_group=False)
                if provider == "Lambda":
                    yield _need(role, "lambda:InvokeFunction",
                                arn("lambda", "function", FunctionName=config["FunctionName"]),
                                f"{why}: invokes the function", CODEPIPELINE_LAMBDA_DOC)
                if provider == "Manual" and config.get("NotificationArn"):
                    topic = config["NotificationArn"]
                    yield _need(role, "sns:Publish", topic, f"{why}: notifies approvers",
                                CODEPIPELINE_SNS_DOC)
                    topic_key = _topic_key(model, topic)
                    if topic_key:
                        for act in ("kms:GenerateDataKey", "kms:Decrypt"):
                            yield kms(role, act, topic_key,
                                      f"{why}: publishes to the encrypted topic", SNS_KMS_DOC,
                                      **{"kms:ViaService": f"sns.{region}.amazonaws.com"})

    # CodeBuild projects outside the pipeline download their own S3 source and write their logs
    # with their service role.
    for lid, project in model.all_of("aws_codebuild_project").items():
        (source,) = project["source"] if isinstance(project["source"], list) else [project["source"]]
        if source.get("type") != "S3":
            continue
        build_role = model.resolve(project["service_role"])
        name = model.resolve(project["name"])
        bucket, key = model.resolve(source["location"]).split("/", 1)
        bwhy = f"CodeBuild project {name}"
        for act in ("s3:GetObject", "s3:GetObjectVersion"):
            yield _need(build_role, act, arn("s3", "object", BucketName=bucket, ObjectName=key),
                        f"{bwhy}: downloads its S3 source", CODEBUILD_ROLE_DOC)
        for act in ("s3:GetBucketAcl", "s3:GetBucketLocation"):
            yield _need(build_role, act, arn("s3", "bucket", BucketName=bucket),
                        f"{bwhy}: checks its S3 source bucket", CODEBUILD_ROLE_DOC)
        group = model.resolve(project["logs_config"]["cloudwatch_logs"]["group_name"])
        yield from _logs(build_role, _World(model), group, "0b1c2d3e-build",
                         f"{bwhy}: writes build logs", CODEBUILD_ROLE_DOC, create_group=False)

    yield from _network_needs(model, arn)

    for lid, target in model.all_of("aws_cloudwatch_event_target").items():
        target_arn = model.resolve(target["arn"])
        if target.get("role_arn"):
            role = model.resolve(target["role_arn"])
            if ":codepipeline:" in target_arn:
                yield _need(role, "codepipeline:StartPipelineExecution", target_arn,
                            f"EventBridge target {lid} starts the pipeline", EVENTS_DOC)
            if ":codebuild:" in target_arn:
                yield _need(role, "codebuild:StartBuild", target_arn,
                            f"EventBridge target {lid} starts the build", EVENTS_CODEBUILD_DOC)
        elif ":sns:" in target_arn:
            yield from _publisher_needs(model, "events.amazonaws.com", target_arn,
                                        f"EventBridge target {lid}", EVENTS_SNS_DOC)

    for lid, alarm in model.all_of("aws_cloudwatch_metric_alarm").items():
        for topic in sorted({model.resolve(a) for a in
                             (alarm.get("alarm_actions") or []) + (alarm.get("ok_actions") or [])}):
            yield from _publisher_needs(model, "cloudwatch.amazonaws.com", topic,
                                        f"alarm {model.resolve(alarm['alarm_name'])}",
                                        ALARM_SNS_DOC)

    for lid, function in model.all_of("aws_lambda_function").items():
        role = model.resolve(function["role"])
        name = model.resolve(function["function_name"])
        group = model.resolve((function.get("logging_config") or {}).get("log_group")
                              or f"/aws/lambda/{name}")
        yield from _logs(role, _World(model), group, "2026/01/01/[$LATEST]0123456789abcdef",
                         f"Lambda function {name} writes its logs", LAMBDA_LOGS_DOC,
                         create_group=False)
        if (function.get("tracing_config") or {}).get("mode") == "Active":
            for act in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
                yield _need(role, act, "*", f"Lambda function {name} sends traces (Active)",
                            LAMBDA_XRAY_DOC)

    for lid, group in model.all_of("aws_cloudwatch_log_group").items():
        key = model.resolve(group.get("kms_key_id") or "")
        if key:
            # A group may be in another region than the stack's (its own `region` argument).
            here = group.get("region") or region
            group_arn = arn_of("logs", "log-group", here, account,
                               LogGroupName=model.resolve(group["name"]))
            for act in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
                yield kms(f"logs.{here}.amazonaws.com", act, key,
                          f"CloudWatch Logs encrypts log group {model.resolve(group['name'])}",
                          LOGS_KMS_DOC, **{"kms:EncryptionContext:aws:logs:arn": group_arn})


def _network_needs(model, arn) -> Iterable[ServiceNeed]:
    """Compute in a VPC (config `network`): the ENIs each service creates as the compute's role,
    and the flow logs' delivery."""
    for lid, project in model.all_of("aws_codebuild_project").items():
        vpc = project.get("vpc_config")
        if not vpc:
            continue
        role = model.resolve(project["service_role"])
        why = f"CodeBuild project {model.resolve(project['name'])} runs in the VPC"
        for act in CODEBUILD_VPC_ACTIONS:
            yield _need(role, f"ec2:{act}", "*", why, CODEBUILD_VPC_DOC)
        for subnet in vpc["subnets"]:
            yield _need(role, "ec2:CreateNetworkInterfacePermission",
                        arn("ec2", "network-interface", NetworkInterfaceId="eni-0123456789abcdef0"),
                        f"{why}: attaches its network interface", CODEBUILD_VPC_DOC,
                        **{"ec2:AuthorizedService": "codebuild.amazonaws.com",
                           "ec2:Subnet": arn("ec2", "subnet", SubnetId=model.resolve(subnet))})
        variables = {v["name"]: model.resolve(v["value"])
                     for v in project["environment"].get("environment_variable", [])}
        if variables.get("CODEARTIFACT_DOMAIN"):
            # The buildspec logs pip in to the mirror (aws codeartifact login) and installs.
            domain, owner = variables["CODEARTIFACT_DOMAIN"], variables["CODEARTIFACT_DOMAIN_OWNER"]
            repository = variables["CODEARTIFACT_REPOSITORY"]
            mirror = f"{why}: installs its requirements from the CodeArtifact mirror"
            yield _need(role, "codeartifact:GetAuthorizationToken",
                        arn("codeartifact", "domain", DomainName=domain), mirror,
                        CODEARTIFACT_PIP_DOC)
            yield _need(role, "sts:GetServiceBearerToken", "*", mirror, CODEARTIFACT_PIP_DOC,
                        **{"sts:AWSServiceName": "codeartifact.amazonaws.com"})
            for act in ("GetRepositoryEndpoint", "ReadFromRepository"):
                yield _need(role, f"codeartifact:{act}",
                            arn("codeartifact", "repository", DomainName=domain,
                                RepositoryName=repository), mirror, CODEARTIFACT_PIP_DOC)
            assert owner == model.account, "the mirror is the tooling account's"
        if variables.get("TRAINING_VPC_CONFIG"):
            # The build passes it to CreateTrainingJob (pipeline_src/jobs/train.py): SageMaker
            # attaches the job to the VPC as the job's role.
            training_role = variables["SAGEMAKER_EXECUTION_ROLE_ARN"]
            for act in SAGEMAKER_VPC_ACTIONS:
                yield _need(training_role, f"ec2:{act}", "*",
                            f"training jobs of {model.resolve(project['name'])} run in the VPC",
                            SAGEMAKER_VPC_DOC)
    for role, stage, vpc in _stage_placements(model):
        # The deploy function passes the stage's vpc_config as CreateModel's VpcConfig
        # (lambda_deploy/deploy.py create_model): SageMaker attaches the model's instances to
        # the subnets as the model's execution role.
        for act in SAGEMAKER_VPC_ACTIONS:
            yield _need(role, f"ec2:{act}", "*", f"stage {stage}'s models run in subnets "
                        f"{', '.join(vpc['subnets'])}", SAGEMAKER_MODEL_VPC_DOC)
    for lid, function in model.all_of("aws_lambda_function").items():
        if not function.get("vpc_config"):
            continue
        role = model.resolve(function["role"])
        why = f"Lambda function {model.resolve(function['function_name'])} runs in the VPC"
        for act in LAMBDA_VPC_ACTIONS:
            yield _need(role, f"ec2:{act}", "*", why, LAMBDA_VPC_DOC)
    for lid, flow_log in model.all_of("aws_flow_log").items():
        role = model.resolve(flow_log["iam_role_arn"])
        group = model.resolve(flow_log["log_destination"])
        name = group.split(":log-group:", 1)[1]
        why = f"VPC flow log {lid} delivers to {name}"
        # In the group's region (a secondary region's VPC logs there).
        stream = arn("logs", "log-stream", LogGroupName=name, LogStreamName="eni-0123abcd-all")
        stream = stream.replace(f":{model.region}:", f":{group.split(':')[3]}:", 1)
        for act in ("logs:CreateLogStream", "logs:PutLogEvents"):
            yield _need(role, act, stream, why, FLOW_LOGS_DOC)
        yield _need(role, "logs:DescribeLogStreams", group, why, FLOW_LOGS_DOC)
        yield _need(role, "logs:DescribeLogGroups", group, why, FLOW_LOGS_DOC)


def vpc_request_context(model) -> dict[str, dict]:
    """{role ARN: what its S3 requests carry} for compute attached to the VPC (builds and
    functions with vpc_config): they reach S3 through the gateway endpoint, so S3 sees
    aws:SourceVpce. IAM User Guide, global condition keys (aws:SourceVpce: in the request
    context only if the requester uses a VPC endpoint,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html);
    PrivateLink guide (a gateway endpoint carries the VPC's traffic to S3 in the region,
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html); for builds this
    includes CodeBuild's own download of input and upload of output artifacts (CodeBuild User
    Guide, use-vpc-endpoints-with-codebuild.html: the endpoint must be in the region of "any S3
    buckets that store your build input and output"; vpc-support.html lists "an S3 bucket
    configured to allow access through an Amazon VPC endpoint only" as a use case). Training jobs
    are left out: SageMaker moves their data as the training role, and the bucket does not
    require the endpoint of it."""
    endpoints = [lid for lid, e in model.all_of("aws_vpc_endpoint").items()
                 if e.get("vpc_endpoint_type") == "Gateway"]
    if not endpoints:
        return {}
    (endpoint,) = endpoints
    context = {"aws:SourceVpce": model.attribute("aws_vpc_endpoint", endpoint, "id")}
    roles = [model.resolve(p["service_role"]) for p in model.all_of("aws_codebuild_project").values()
             if p.get("vpc_config")]
    roles += [model.resolve(f["role"]) for f in model.all_of("aws_lambda_function").values()
              if f.get("vpc_config")]
    return {role: context for role in roles}


def training_vpc_context(model) -> dict[str, dict]:
    """{train build role ARN: the VPC keys of its CreateTrainingJob requests} in a stack that sets
    TRAINING_VPC_CONFIG. The train job passes that variable verbatim as the request's VpcConfig
    (pipeline_src/jobs/train.py; tests/pipeline_src/jobs/test_jobs.py checks the request), and
    the request's VpcConfig subnets and security groups are the values of sagemaker:VpcSubnets
    and sagemaker:VpcSecurityGroupIds (Service Authorization Reference, Amazon SageMaker AI
    condition keys, https://docs.aws.amazon.com/service-authorization/latest/reference/
    list_amazonsagemaker.html). The recorded calls ran without the stack's network; in it, the
    requests carry these."""
    import json

    found = {}
    for project in model.all_of("aws_codebuild_project").values():
        variables = {v["name"]: v["value"] for v in
                     project["environment"].get("environment_variable", [])}
        if "TRAINING_VPC_CONFIG" in variables:
            vpc = json.loads(model.resolve(variables["TRAINING_VPC_CONFIG"]))
            found[model.resolve(project["service_role"])] = {
                "sagemaker:VpcSubnets": list(vpc["Subnets"]),
                "sagemaker:VpcSecurityGroupIds": list(vpc["SecurityGroupIds"])}
    return found


def _stage_placements(model) -> list[tuple[str, str, dict]]:
    """[(execution role ARN, stage, vpc_config)] for the stages of the deploy function's
    STAGE_SETTINGS that serve in this account's VPC (a remote stage's role is another
    account's: the cross-account tests judge it against that account's stack)."""
    import json

    found = []
    for function in model.all_of("aws_lambda_function").values():
        settings = function.get("environment", {}).get("variables", {}).get("STAGE_SETTINGS")
        for stage, values in sorted(json.loads(settings or "{}").items()):
            role = model.resolve(values["execution_role_arn"])
            if values.get("vpc_config") and role.split(":")[4] == model.account:
                vpc = {k: [model.resolve(v) for v in ids]
                       for k, ids in values["vpc_config"].items()}
                found.append((role, stage, vpc))
    return found


def deploy_vpc_context(model) -> dict[tuple[str, str], dict]:
    """{(deploy role ARN, stage): the VPC keys of its CreateModel requests for that stage} in a
    stack whose tooling-account stages serve in its VPC. The deploy function passes the stage's
    vpc_config as the request's VpcConfig (lambda_deploy/deploy.py create_model;
    tests/lambda_deploy/test_network_isolation.py checks the request), whose subnets and security
    groups are sagemaker:VpcSubnets and sagemaker:VpcSecurityGroupIds (Service Authorization
    Reference, Amazon SageMaker AI condition keys, https://docs.aws.amazon.com/
    service-authorization/latest/reference/list_amazonsagemaker.html). The recorded calls ran
    without the stack's network; in it, the requests carry these."""
    found = {}
    for function in model.all_of("aws_lambda_function").values():
        if "STAGE_SETTINGS" not in function.get("environment", {}).get("variables", {}):
            continue
        deployer = model.resolve(function["role"])
        for _, stage, vpc in _stage_placements(model):
            found[(deployer, stage)] = {"sagemaker:VpcSubnets": vpc["subnets"],
                                        "sagemaker:VpcSecurityGroupIds": vpc["security_group_ids"]}
    return found


# Which VPC endpoint a need of compute in the VPC goes through (PrivateLink service name after
# com.amazonaws.<region>., or "s3" for the gateway endpoint), or None where an AWS service
# authorizes it from outside the VPC. AWS PrivateLink guide, "AWS services that integrate with
# AWS PrivateLink" (https://docs.aws.amazon.com/vpc/latest/privatelink/
# aws-services-privatelink-support.html) names each service's endpoint.
ENDPOINT_OF_PREFIX = {"cloudwatch": "monitoring", "sagemaker": "sagemaker.api",
                      "codeartifact": "codeartifact.api"}
ENDPOINT_OF_ACTION = {
    # SageMaker Runtime's own endpoint (sagemaker.runtime).
    "sagemaker:InvokeEndpoint": "sagemaker.runtime",
    # pip's package downloads (CodeArtifact User Guide, "Use CodeArtifact with VPC endpoints":
    # codeartifact.repositories for package manager requests, codeartifact.api for the APIs).
    "codeartifact:ReadFromRepository": "codeartifact.repositories",
    # Checked by CodeArtifact when GetAuthorizationToken asks STS for the bearer token
    # (CodeArtifact User Guide, "Authentication and tokens"), not called from the VPC.
    "sts:GetServiceBearerToken": None,
}
# Needs the service satisfies itself, whoever's role they are: the network interfaces Lambda,
# CodeBuild and SageMaker attach (LAMBDA_VPC_DOC, CODEBUILD_VPC_DOC, SAGEMAKER_VPC_DOC);
# iam:PassRole and iam:CreateServiceLinkedRole, permissions the called service checks (IAM User
# Guide, "Grant a user permissions to pass a role to an AWS service"); X-Ray segments and the
# function's own logs, which Lambda sends (LAMBDA_XRAY_DOC, LAMBDA_LOGS_DOC).
OUTSIDE_THE_VPC = ("ec2", "iam", "xray")
# KMS requests a service makes for the caller: S3 for SSE-KMS (kms:ViaService), SageMaker's
# grant for the endpoint's volume (kms:GrantIsForAWSResource).
KMS_FOR_THE_CALLER = ("kms:ViaService", "kms:GrantIsForAWSResource")
# SageMaker moves a VPC-attached job's or model's S3 data through the VPC ("Give SageMaker AI
# Training Jobs Access to Resources in Your Amazon VPC", train-vpc.html, and "... Hosted
# Endpoints ...", host-vpc.html: without internet access the containers reach S3 only through
# an S3 VPC endpoint); it pulls the image itself ("SageMaker AI automatically pulls the training
# container image from Amazon ECR") and its agents publish logs and metrics outside the VPC.
SAGEMAKER_THROUGH_THE_VPC = ("s3",)


def endpoint_callers(model) -> dict[str, tuple]:
    """{role ARN: IAM prefixes its needs reach through the VPC's endpoints (() for all)}: the
    builds and functions in the VPC, and the SageMaker roles of training jobs and models it
    runs there (TRAINING_VPC_CONFIG, STAGE_SETTINGS vpc_config)."""
    import json

    callers = {role: () for role in vpc_request_context(model)}
    for project in model.all_of("aws_codebuild_project").values():
        variables = {v["name"]: model.resolve(v["value"])
                     for v in project["environment"].get("environment_variable", [])}
        if variables.get("TRAINING_VPC_CONFIG"):
            callers[variables["SAGEMAKER_EXECUTION_ROLE_ARN"]] = SAGEMAKER_THROUGH_THE_VPC
    for role, _, _ in _stage_placements(model):
        callers[role] = SAGEMAKER_THROUGH_THE_VPC
    return callers


def endpoint_of(need, prefixes: tuple = ()) -> Optional[str]:
    """The endpoint a need of a role in the VPC (endpoint_callers) goes through, or None."""
    prefix = need.action.split(":")[0]
    if prefixes and prefix not in prefixes or prefix in OUTSIDE_THE_VPC:
        return None
    if prefix == "kms" and any(k in dict(need.context) for k in KMS_FOR_THE_CALLER):
        return None
    if prefix == "logs" and ":log-group:/aws/lambda/" in need.resource:
        return None
    if need.action in ENDPOINT_OF_ACTION:
        return ENDPOINT_OF_ACTION[need.action]
    return ENDPOINT_OF_PREFIX.get(prefix, prefix)


def _topic_key(model, topic_arn: str) -> Optional[str]:
    for lid, topic in model.all_of("aws_sns_topic").items():
        if model.attribute("aws_sns_topic", lid, "arn") == topic_arn and topic.get("kms_master_key_id"):
            return model.resolve(topic["kms_master_key_id"])
    return None


def _publisher_needs(model, service: str, topic: str, who: str, doc: str):
    yield _need(service, "sns:Publish", topic, f"{who} publishes to the topic", doc,
                **{"aws:SourceAccount": model.account})
    key = _topic_key(model, topic)
    if key:
        for act in ("kms:GenerateDataKey", "kms:Decrypt"):
            yield _need(service, act, key, f"{who} publishes to the encrypted topic",
                        SNS_KMS_DOC)


class _World:
    """ARN helper for stack needs (no recorded calls)."""

    def __init__(self, model):
        self.model = model

    def arn(self, prefix, type_, **values):
        from tests.iam.authz import arn_of
        return arn_of(prefix, type_, self.model.region, self.model.account, **values)
