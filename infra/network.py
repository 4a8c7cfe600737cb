"""Network: the private subnets builds, functions and training jobs run in, the security group of
each kind of compute, and the VPC endpoints through which they reach AWS.

Either a VPC this construct creates (two private subnets in two AZs, one route table with only
the local route: no internet gateway, no NAT, flow logs to an encrypted log group) or an existing
VPC's subnets (config `network.vpc_id`, `network.subnet_ids`). Either way the construct adds the
endpoints and security groups: compute may send HTTPS to the interface endpoints' group and to
S3's prefix list (the gateway endpoint), nothing else; the endpoints accept HTTPS from the compute
groups only.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable, Sequence

from cdktf import Fn, TerraformIterator, Token
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.codebuild_project import CodebuildProjectVpcConfig
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones, DataAwsAvailabilityZonesFilter)
from cdktf_cdktf_provider_aws.data_aws_route_table import DataAwsRouteTable
from cdktf_cdktf_provider_aws.data_aws_subnet import DataAwsSubnet
from cdktf_cdktf_provider_aws.data_aws_vpc import DataAwsVpc
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunctionVpcConfig
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone, Route53ZoneVpc
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_peering_connection import VpcPeeringConnection
from cdktf_cdktf_provider_aws.vpc_peering_connection_accepter import (
    VpcPeeringConnectionAccepterA)
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import (
    VpcSecurityGroupIngressRule)

from infra.encryption import EncryptionKey
from infra.environment import DeploymentTarget
from infra.iam import log_statement, policy_document, service_role, statement
from infra.package_mirror import ENDPOINTS as PACKAGE_ENDPOINTS, PackageMirror

HTTPS = 443
# The kinds of compute that run in the subnets, each with its own security group.
COMPUTE_KINDS = {
    "build": "CodeBuild builds: HTTPS to the VPC endpoints and S3 only",
    "function": "Lambda functions: HTTPS to the VPC endpoints and S3 only",
    # Training containers run with network isolation: SageMaker itself moves the data
    # channels and the model to and from S3; no API call leaves the job.
    "training": "SageMaker training jobs: HTTPS to S3 only",
}
# The models of stages served in the tooling account run in the subnets too (CreateModel
# VpcConfig); their containers have no network (EnableNetworkIsolation) and SageMaker reads the
# model artifact from S3. Only where such a stage exists (config EnvironmentConfig
# serves_in_tooling_network), so an environment serving elsewhere plans no new group.
SERVING_KIND = {"serving": "SageMaker models served in this account: HTTPS to S3 only"}
# Kinds whose code calls AWS APIs (through the interface endpoints).
API_CALLERS = ("build", "function")
# Interface endpoints (PrivateLink service name after com.amazonaws.<region>.), with who calls
# them from inside. tests/infra/test_network.py checks every service the recorded calls of the
# role code use has one, through AWS's table of PrivateLink service names.
INTERFACE_ENDPOINTS = {
    "sagemaker.api": "training/test jobs, deploy step, monitor (registry, jobs, endpoints)",
    "sagemaker.runtime": "deploy step's smoke test (InvokeEndpoint)",
    "sts": "deploy step (AssumeRole of stage deployers, GetCallerIdentity)",
    "codepipeline": "deploy step (job results), retraining trigger (StartPipelineExecution)",
    "monitoring": "deploy step (rollback alarms), monitor (PutMetricData)",
    "application-autoscaling": "deploy step (endpoint autoscaling)",
    "logs": "CodeBuild builds write their logs from the build container",
    **{endpoint: "builds' pip install (the CodeArtifact mirror of PyPI)"
       for endpoint in PACKAGE_ENDPOINTS},
}


@dataclass(frozen=True)
class EndpointScope:
    """What an endpoint's policy admits (AWS PrivateLink guide, "Control access to VPC endpoints
    using endpoint policies", https://docs.aws.amazon.com/vpc/latest/privatelink/
    vpc-endpoints-access.html): the project's principals (aws:PrincipalAccount), calling its
    service on the project's resources, or on no resource for the actions that take none
    (Service Authorization Reference: an action with no resource type is authorized on "*").
    tests/infra/test_network.py judges every policy against the calls made through it."""

    iam_prefix: str
    # The project's resources in one account (a DeploymentTarget), as ARN patterns.
    resources: Callable[[DeploymentTarget], list[str]]
    # Actions of the project's code that take no resource.
    unscoped: tuple[str, ...] = ()
    # Whose resources: the tooling account's ("tooling"), the stage accounts' other than it,
    # where the deploy step and the monitor act as their roles ("remote"), both ("all"), or the
    # accounts holding stages ("stages": the tooling account's too if a stage is there).
    accounts: str = "all"


def _sagemaker(target: DeploymentTarget) -> list[str]:
    # Models, endpoint configs, endpoints, training jobs, the package group and its packages:
    # every SageMaker name of the project starts with its prefix.
    return [target.sagemaker_arn("*", f"{target.names.prefix}-*")]


ENDPOINT_SCOPES = {
    # ListModelPackages too: the test job lists the group's packages, and IAM authorizes it on
    # "*" (infra/model_registry.py list_packages).
    "sagemaker.api": EndpointScope("sagemaker", _sagemaker, unscoped=(
        "sagemaker:ListEndpointConfigs", "sagemaker:ListModelPackages", "sagemaker:ListModels")),
    "sagemaker.runtime": EndpointScope(
        "sagemaker", lambda t: [t.sagemaker_arn("endpoint", f"{t.names.prefix}-*")],
        accounts="stages"),
    # The stage deployers and monitor readers the function and the monitor build assume.
    "sts": EndpointScope("sts", lambda t: [t.role_arn("*")], unscoped=("sts:GetCallerIdentity",),
                         accounts="remote"),
    "codepipeline": EndpointScope(
        "codepipeline", lambda t: [t.arn("codepipeline", f"{t.names.prefix}-*")],
        unscoped=("codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"),
        accounts="tooling"),
    # The endpoints' rollback alarms and the target-tracking alarms Application Auto Scaling
    # names after the endpoint.
    "monitoring": EndpointScope("cloudwatch", lambda t: [
        t.arn("cloudwatch", f"alarm:{t.names.prefix}-*"),
        t.arn("cloudwatch", f"alarm:TargetTracking-endpoint/{t.names.prefix}-*")],
        unscoped=("cloudwatch:PutMetricData",), accounts="stages"),
    # Scalable targets are named by AWS-generated IDs, not the project's names; a new one has
    # no ARN yet.
    "application-autoscaling": EndpointScope("application-autoscaling", lambda t: [], unscoped=(
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:RegisterScalableTarget")),
    # The builds' own log groups.
    "logs": EndpointScope("logs", lambda t: [t.log_group_arn(
        t.names.codebuild_log_group(f"{t.names.prefix}-*"))], accounts="tooling"),
}


def endpoint_policy(scope: EndpointScope, targets: Sequence[DeploymentTarget],
                    principal_accounts: Sequence[str]) -> str:
    """targets: the accounts (in the endpoint's region) whose resources are called through it."""
    who = {"principal": {"AWS": "*"}, "conditions": {"StringEquals": {
        "aws:PrincipalAccount": sorted(principal_accounts)}}}
    resources = [arn for target in targets for arn in scope.resources(target)]
    statements = [statement("ProjectResources", [f"{scope.iam_prefix}:*"], resources, **who)] \
        if resources else []
    if scope.unscoped:
        statements.append(statement("ActionsWithoutResource", scope.unscoped, "*", **who))
    return policy_document(statements)


# Zones a created VPC may use, by name suffix; the first two available hold its subnets.
ZONE_LETTERS = "abc"
# Flow logs of the created VPC: rejected and accepted traffic, aggregated per minute.
FLOW_LOG_AGGREGATION_SECONDS = 60
FLOW_LOG_DOC = ("https://docs.aws.amazon.com/vpc/latest/userguide/"
                "flow-logs-iam-role.html (IAM role for publishing flow logs to CloudWatch Logs)")


def private_subnet_cidrs(cidr: str, count: int = 2) -> list[str]:
    """The VPC's CIDR split in `count` equal private subnets (one per AZ)."""
    network = ipaddress.IPv4Network(cidr)
    bits = (count - 1).bit_length()
    return [str(s) for s in list(network.subnets(prefixlen_diff=bits))[:count]]


@dataclass(frozen=True)
class NetworkPlacement:
    """Where one kind of compute runs: subnets and security groups (VpcConfig's two lists)."""

    vpc_id: str
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]


class Network(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget, key_arn: str,
                 bucket_arns: Sequence[str], principal_accounts: Sequence[str]) -> None:
        """bucket_arns: the buckets the compute reads and writes through the S3 endpoint;
        principal_accounts: accounts whose principals may use the endpoints (the pipeline's,
        and the stage accounts whose deployer roles the deploy step acts as)."""
        super().__init__(scope, id_)
        config, names = target.config.network, target.names
        self._target = target
        if config.creates_vpc:
            self.vpc_id, self.subnet_ids, route_table_ids = create_private_vpc(
                self, target, config.cidr, key_arn)
            # What a peered VPC routes to, and its endpoints admit (SecondaryRegionNetwork).
            self.cidr_block, self.subnet_cidr_blocks = config.cidr, private_subnet_cidrs(
                config.cidr)
        else:
            self.vpc_id, self.subnet_ids = config.vpc_id, list(config.subnet_ids)
            # Subnets may share a route table: each once, or the gateway endpoint is refused.
            route_table_ids = Fn.distinct([
                DataAwsRouteTable(self, f"route_table_{i}", subnet_id=subnet).id
                for i, subnet in enumerate(config.subnet_ids)])
            if config.regions:
                # Peered with the secondary regions' VPCs: the ranges are read at plan time
                # (AWS refuses a peering of overlapping ranges when it is created).
                self.cidr_block = DataAwsVpc(self, "vpc", id=config.vpc_id).cidr_block
                self.subnet_cidr_blocks = [
                    DataAwsSubnet(self, f"subnet_{i}", id=subnet).cidr_block
                    for i, subnet in enumerate(config.subnet_ids)]
        extra_groups = list(config.security_group_ids)
        # Builds install their packages without internet through this mirror.
        self.packages = PackageMirror(self, "packages", target=target, key_arn=key_arn)

        endpoint_group = SecurityGroup(
            self, "endpoints_sg", name=names.security_group("endpoints"), vpc_id=self.vpc_id,
            description="Interface VPC endpoints: HTTPS from the project's compute only")
        compute_groups = {
            kind: SecurityGroup(self, f"{kind}_sg", name=names.security_group(kind),
                                vpc_id=self.vpc_id, description=description)
            for kind, description in {**COMPUTE_KINDS, **(
                SERVING_KIND if any(target.config.serves_in_tooling_network(s)
                                    for s in target.config.stages) else {})}.items()}
        remote = [target.in_account(a) for a in target.config.remote_accounts]
        local = [target] if any(not target.config.is_remote(s)
                                for s in target.config.stages) else []
        accounts = {"tooling": [target], "remote": remote, "all": [target, *remote],
                    "stages": [*local, *remote]}
        scopes = {**ENDPOINT_SCOPES, **{
            service: EndpointScope("codeartifact", lambda _, arns=arns: arns, accounts="tooling")
            for service, arns in self.packages.endpoint_resources().items()}}

        def scoped(service: str) -> str:
            scope = scopes[service]
            return endpoint_policy(scope, accounts[scope.accounts], principal_accounts)
        self.s3_endpoint = VpcEndpoint(
            self, "s3", vpc_id=self.vpc_id, service_name=f"com.amazonaws.{target.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=route_table_ids,
            policy=policy_document([statement(
                "ProjectBucketsOnly", ["s3:*"],
                [arn for bucket in bucket_arns for arn in (bucket, f"{bucket}/*")],
                principal={"AWS": "*"}, conditions={"StringEquals": {
                    "aws:PrincipalAccount": sorted(principal_accounts)}})]))
        self.interface_endpoints = {
            service: VpcEndpoint(
                self, f"endpoint_{service.replace('.', '_').replace('-', '_')}",
                vpc_id=self.vpc_id, service_name=f"com.amazonaws.{target.region}.{service}",
                vpc_endpoint_type="Interface", private_dns_enabled=True,
                subnet_ids=list(self.subnet_ids), security_group_ids=[endpoint_group.id],
                policy=scoped(service))
            for service in INTERFACE_ENDPOINTS}
        prefix_list = self.s3_endpoint.prefix_list_id
        for kind, group in compute_groups.items():
            VpcSecurityGroupEgressRule(
                self, f"{kind}_to_s3", security_group_id=group.id, ip_protocol="tcp",
                from_port=HTTPS, to_port=HTTPS, prefix_list_id=prefix_list,
                description="HTTPS to S3 through the gateway endpoint")
            if kind not in API_CALLERS:
                continue
            VpcSecurityGroupEgressRule(
                self, f"{kind}_to_endpoints", security_group_id=group.id, ip_protocol="tcp",
                from_port=HTTPS, to_port=HTTPS, referenced_security_group_id=endpoint_group.id,
                description="HTTPS to the interface VPC endpoints")
            VpcSecurityGroupIngressRule(
                self, f"endpoints_from_{kind}", security_group_id=endpoint_group.id,
                ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS,
                referenced_security_group_id=group.id,
                description=f"HTTPS from the {kind}s' security group")
        self.security_group_ids = {kind: [group.id, *extra_groups]
                                   for kind, group in compute_groups.items()}
        self.endpoint_security_group_id = endpoint_group.id
        self.s3_endpoint_id = self.s3_endpoint.id
        self.endpoint_ids = {service: endpoint.id
                             for service, endpoint in self.interface_endpoints.items()}
        self.route_table_ids = route_table_ids
        self.function_security_group_id = compute_groups["function"].id
        self.build_security_group_id = compute_groups["build"].id

    def route_to(self, scope: Construct, id_: str, *, cidr: str, peering_id: str) -> None:
        """Routes `cidr` from every route table of the subnets through a peering: a created
        VPC's table, or each distinct table of an existing VPC's subnets (read at plan time,
        so one route per table with for_each)."""
        if self._target.config.network.creates_vpc:
            for index, table in enumerate(self.route_table_ids):
                Route(scope, f"{id_}_{index}", route_table_id=table, destination_cidr_block=cidr,
                      vpc_peering_connection_id=peering_id)
            return
        tables = TerraformIterator.from_list(self.route_table_ids)
        Route(scope, f"{id_}_tables", for_each=tables,
              route_table_id=Token.as_string(tables.value), destination_cidr_block=cidr,
              vpc_peering_connection_id=peering_id)

    def build_environment(self) -> dict[str, str]:
        """Variables the buildspecs read to install from the mirror instead of PyPI."""
        return dict(self.packages.environment)

    def codebuild_vpc_config(self) -> CodebuildProjectVpcConfig:
        placement = self.placement("build")
        return CodebuildProjectVpcConfig(vpc_id=placement.vpc_id, subnets=placement.subnet_ids,
                                         security_group_ids=placement.security_group_ids)

    def lambda_vpc_config(self) -> LambdaFunctionVpcConfig:
        placement = self.placement("function")
        return LambdaFunctionVpcConfig(subnet_ids=placement.subnet_ids,
                                       security_group_ids=placement.security_group_ids)

    def training_vpc_config(self) -> dict:
        """CreateTrainingJob's VpcConfig (pipeline_src/jobs/train.py reads it)."""
        placement = self.placement("training")
        return {"SecurityGroupIds": placement.security_group_ids,
                "Subnets": placement.subnet_ids}

    def placement(self, kind: str) -> NetworkPlacement:
        return NetworkPlacement(self.vpc_id, list(self.subnet_ids),
                                list(self.security_group_ids[kind]))

    def subnet_arns(self) -> list[str]:
        return [self._target.arn("ec2", f"subnet/{subnet}") for subnet in self.subnet_ids]

    # -- what compute in the subnets needs to attach its network interfaces -----------------------
    def grant_builds(self) -> list[dict]:
        """What a build in the subnets needs: its packages from the mirror, and its network
        interface, which CodeBuild creates as the project's service role
        (CodeBuild User Guide, "Allow CodeBuild access to AWS services required to create a VPC
        network interface"): EC2's Describe* and network-interface actions have no useful
        resource scope; the permission to attach is limited to these subnets and CodeBuild."""
        return [
            *self.packages.read(),
            statement("CreateBuildNetworkInterfaces", [
                "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"], "*"),
            statement("AttachBuildNetworkInterfacesInProjectSubnets",
                      ["ec2:CreateNetworkInterfacePermission"],
                      [self._target.arn("ec2", "network-interface/*")],
                      conditions={"StringEquals": {"ec2:AuthorizedService":
                                                   "codebuild.amazonaws.com"},
                                  "ArnEquals": {"ec2:Subnet": self.subnet_arns()}}),
        ]

    def grant_lambda_interfaces(self) -> list[dict]:
        """Lambda manages a VPC function's network interfaces with the execution role (Lambda
        Developer Guide, "Giving Lambda functions access to resources in an Amazon VPC",
        Required IAM permissions; AWSLambdaVPCAccessExecutionRole): DescribeNetworkInterfaces
        works only on "*"."""
        return [statement("ManageFunctionNetworkInterfaces", [
            "ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses"], "*")]

    def grant_sagemaker_interfaces(self) -> list[dict]:
        """SageMaker attaches a training job in a VPC with its execution role (SageMaker
        Developer Guide, "CreateTrainingJob API: Execution Role Permissions": "If you specify a
        private VPC for your training job, add the following permissions")."""
        return [sagemaker_interfaces_grant("ManageTrainingNetworkInterfaces")]


# What SageMaker does with a VPC job's or model's execution role to attach it to its subnets
# (SageMaker Developer Guide, "How to use SageMaker AI execution roles": the CreateTrainingJob and
# CreateModel sections list the same nine actions; EC2 scopes none of them usefully here).
SAGEMAKER_INTERFACE_ACTIONS = [
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets", "ec2:DescribeVpcs"]


def sagemaker_interfaces_grant(sid: str) -> dict:
    return statement(sid, SAGEMAKER_INTERFACE_ACTIONS, "*")


def create_private_vpc(scope: Construct, target: DeploymentTarget, cidr: str, key_arn: str, *,
                       region: str | None = None):
    """A VPC with two private subnets in two AZs, one route table with only the local route
    (no internet gateway, no NAT) and flow logs to an encrypted log group; in `region` through
    the resources' own region argument (None: the stack provider's). (vpc id, subnet ids,
    [route table id])."""
    names = target.names
    here = {"region": region} if region else {}
    # DNS support and hostnames: the interface endpoints' private DNS names need both.
    vpc = Vpc(scope, "vpc", cidr_block=cidr, enable_dns_support=True,
              enable_dns_hostnames=True, tags={"Name": names.prefix}, **here)
    # No rule: nothing uses the default group, and it admits nothing.
    DefaultSecurityGroup(scope, "default_sg", vpc_id=vpc.id, **here)
    # An allowlist of zone names (a new AZ does not move the subnets); the first two
    # available ones are used.
    zones = DataAwsAvailabilityZones(scope, "zones", state="available", filter=[
        DataAwsAvailabilityZonesFilter(name="zone-name",
                                       values=[f"{target.region}{z}" for z in ZONE_LETTERS])],
        **here)
    routes = RouteTable(scope, "private_routes", vpc_id=vpc.id,
                        tags={"Name": f"{names.prefix}-private"}, **here)
    subnets = []
    for index, subnet_cidr in enumerate(private_subnet_cidrs(cidr)):
        subnet = Subnet(scope, f"private_{index}", vpc_id=vpc.id, cidr_block=subnet_cidr,
                        availability_zone=Fn.element(zones.names, index),
                        map_public_ip_on_launch=False,
                        tags={"Name": f"{names.prefix}-private-{index}"}, **here)
        RouteTableAssociation(scope, f"private_{index}_routes", subnet_id=subnet.id,
                              route_table_id=routes.id, **here)
        subnets.append(subnet.id)
    log_group_name = names.flow_log_group
    log_group = CloudwatchLogGroup(scope, "flow_logs", name=log_group_name,
                                   retention_in_days=target.config.log_retention_days,
                                   kms_key_id=key_arn, **here)
    # IAM is global: one role per VPC, named after its region when it is not the stack's.
    role = service_role(
        scope, "flow_logs_role",
        name=names.role(f"flow-logs-{region}" if region else "flow-logs"),
        service="vpc-flow-logs.amazonaws.com", account_id=target.account_id,
        description="VPC flow logs: deliver to the VPC's log group",
        policies={"flow-logs": [
            log_statement(target.log_group_arn(log_group_name)),
            # Flow logs describe the group and its streams before delivering.
            statement("DescribeOwnLogGroup", ["logs:DescribeLogGroups",
                                              "logs:DescribeLogStreams"],
                      [target.log_group_arn(log_group_name)])]})
    FlowLog(scope, "flow_log", vpc_id=vpc.id, traffic_type="ALL",
            log_destination_type="cloud-watch-logs", log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=FLOW_LOG_AGGREGATION_SECONDS, **here)
    return vpc.id, subnets, [routes.id]


# What the deploy function calls in a stage's secondary region (PrivateLink service name after
# com.amazonaws.<region>. -> the regional host name the SDK calls, which a private hosted zone
# in the tooling VPC maps to the endpoint). STS is not here: the function assumes the stage
# deployer at its own region's STS endpoint, whose session tokens are valid in every Region (IAM
# User Guide, "Manage AWS STS in an AWS Region"). tests/infra/test_network.py checks that every
# service the recorded calls use in a secondary region is here, host name included.
SECONDARY_ENDPOINTS = {
    "sagemaker.api": "api.sagemaker",
    "sagemaker.runtime": "runtime.sagemaker",
    "monitoring": "monitoring",
    "application-autoscaling": "application-autoscaling",
    # The artifact copy's upload (lambda_deploy/regions.py). An interface endpoint: a gateway
    # endpoint serves only its own VPC's route tables, never a peered VPC ("Gateway endpoints
    # for Amazon S3": "Endpoint connections cannot be extended out of a VPC").
    "s3": "s3",
}
# Routes and security-group rules across an inter-Region peering name CIDR blocks: "You cannot
# reference the security group of a peer VPC that's in a different Region" (VPC Peering guide,
# "Update your security groups to reference peer security groups").
PEERING_DOC = "https://docs.aws.amazon.com/vpc/latest/peering/vpc-peering-security-groups.html"


class SecondaryRegionNetwork(Construct):
    """How the deploy function and the monitor job, in the tooling VPC's private subnets, reach a
    stage's secondary region: SageMaker is not a cross-Region PrivateLink service (AWS PrivateLink guide,
    "Cross-region enabled AWS services",
    https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-cross-region-privatelink-support.html),
    so the tooling account gets a VPC in that region (two private subnets, no way out, flow
    logs) holding that region's interface endpoints, peered with the tooling VPC (inter-Region
    VPC peering, routes both ways), and one Route 53 private hosted zone per service, associated
    with the tooling VPC, that answers the service's regional name with the endpoint (private
    DNS of an endpoint serves only its own VPC; the documented way to use it from a peered VPC
    is a private hosted zone with an alias record: PrivateLink guide, "Access an AWS service
    using an interface VPC endpoint", and Route 53 Developer Guide, "Routing traffic to an
    Amazon VPC interface endpoint by using your domain name"). Everything is in the tooling
    stack, in that region through the resources' own `region` argument (AWS provider 6), so the
    peering, routes and zones reference each other without cross-stack references."""

    def __init__(self, scope: Construct, id_: str, *, primary: Network,
                 target: DeploymentTarget, cidr: str, bucket_arns: Sequence[str],
                 principal_accounts: Sequence[str]) -> None:
        """target: the tooling account in the secondary region; bucket_arns: the stage
        accounts' buckets there (the copies' destination)."""
        super().__init__(scope, id_)
        config = target.config
        region, names = target.region, target.names
        here = {"region": region}
        # The region's flow logs only; no topic there.
        key = EncryptionKey(self, "encryption", target=target, in_region=True, topic=False)
        self.vpc_id, self.subnet_ids, route_tables = create_private_vpc(
            self, target, cidr, key.key_arn, region=region)
        peering = VpcPeeringConnection(
            self, "peering", vpc_id=primary.vpc_id, peer_vpc_id=self.vpc_id, peer_region=region,
            tags={"Name": f"{names.prefix}-{region}"})
        VpcPeeringConnectionAccepterA(
            self, "peering_accepter", vpc_peering_connection_id=peering.id, auto_accept=True,
            tags={"Name": f"{names.prefix}-{region}"}, **here)
        self.peering_id = peering.id
        primary.route_to(self, "to", cidr=cidr, peering_id=peering.id)
        for index, table in enumerate(route_tables):
            Route(self, f"from_{index}", route_table_id=table,
                  destination_cidr_block=primary.cidr_block,
                  vpc_peering_connection_id=peering.id, **here)
        endpoint_group = SecurityGroup(
            self, "endpoints_sg", name=names.security_group("endpoints"), vpc_id=self.vpc_id,
            description="Interface VPC endpoints: HTTPS from the tooling VPC's functions",
            **here)
        # By CIDR: a peer in another Region cannot be referenced by group (PEERING_DOC).
        for index, subnet_cidr in enumerate(primary.subnet_cidr_blocks):
            VpcSecurityGroupIngressRule(
                self, f"endpoints_from_tooling_{index}", security_group_id=endpoint_group.id,
                ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ipv4=subnet_cidr,
                description=f"HTTPS from the tooling VPC's private subnet {index}", **here)
        VpcSecurityGroupEgressRule(
            self, "functions_to_endpoints", security_group_id=primary.function_security_group_id,
            ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ipv4=cidr,
            description=f"HTTPS to the {region} endpoints through the peering")
        # The monitor job (a build) reads each stage's endpoint and capture in this region too
        # (pipeline_src/jobs/monitor.py, MONITOR_REGIONS).
        VpcSecurityGroupEgressRule(
            self, "builds_to_endpoints", security_group_id=primary.build_security_group_id,
            ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ipv4=cidr,
            description=f"HTTPS to the {region} endpoints through the peering (monitor job)")
        accounts = sorted(principal_accounts)
        # The deploy step acts there in the stage accounts only (a stage in the tooling account
        # has no secondary region: infra/config.py).
        stage_targets = [target.in_account(a).in_region(region) for a in accounts
                         if a != target.account_id]
        bucket_policy = policy_document([statement(
            "ProjectBucketsOnly", ["s3:*"],
            [arn for bucket in bucket_arns for arn in (bucket, f"{bucket}/*")],
            principal={"AWS": "*"},
            conditions={"StringEquals": {"aws:PrincipalAccount": accounts}})])
        self.endpoints, self.zones = {}, {}
        for service, host in SECONDARY_ENDPOINTS.items():
            lid = service.replace(".", "_").replace("-", "_")
            endpoint = VpcEndpoint(
                self, f"endpoint_{lid}", vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{region}.{service}", vpc_endpoint_type="Interface",
                # Its names are answered in the tooling VPC by the zone below.
                private_dns_enabled=False, subnet_ids=list(self.subnet_ids),
                security_group_ids=[endpoint_group.id],
                policy=bucket_policy if service == "s3" else endpoint_policy(
                    ENDPOINT_SCOPES[service], stage_targets, accounts), **here)
            zone = Route53Zone(
                self, f"zone_{lid}", name=f"{host}.{region}.amazonaws.com",
                comment=f"{service} in {region} through the peered VPC's endpoint",
                vpc=[Route53ZoneVpc(vpc_id=primary.vpc_id, vpc_region=config.region)])
            entry = endpoint.dns_entry.get(0)
            # S3's endpoint name is a wildcard (*.vpce-...): bucket names go in front of it.
            records = ("", "*") if service == "s3" else ("",)
            for record in records:
                Route53Record(
                    self, f"zone_{lid}_record{'_wildcard' if record else ''}",
                    zone_id=zone.zone_id,
                    name=f"{record}.{host}.{region}.amazonaws.com".lstrip("."),
                    type="A", alias=Route53RecordAlias(
                        name=Fn.trimprefix(entry.dns_name, "*."),
                        zone_id=entry.hosted_zone_id, evaluate_target_health=False))
            self.endpoints[service], self.zones[service] = endpoint, zone
