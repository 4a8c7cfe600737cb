"""Private networking (config `network`): what the synthesized Terraform holds when it is on.

Two synths with the setting on: dev with a VPC the stack creates, prod (multi-account) with an
existing VPC. The default environments' Terraform without the setting is held by the snapshots.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json

import pytest
import yaml
from pathlib import Path

from infra.config import load_environment
from infra.network import (API_CALLERS, COMPUTE_KINDS, INTERFACE_ENDPOINTS,
                           SAGEMAKER_INTERFACE_ACTIONS, SECONDARY_ENDPOINTS, SERVING_KIND,
                           private_subnet_cidrs)

CREATED = {"cidr": "10.20.0.0/16"}
EXISTING = {"vpc_id": "vpc-0123456789abcdef0",
            "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "security_group_ids": ["sg-0123456789abcdef0"]}

# botocore service name -> PrivateLink service names (after com.amazonaws.<region>.), from AWS's
# table https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html
# ("AWS services that integrate with AWS PrivateLink", Service name column). S3 is reached through
# its gateway endpoint (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html).
PRIVATELINK = {
    "s3": ("s3",),
    "sagemaker": ("sagemaker.api",),
    "sagemaker-runtime": ("sagemaker.runtime",),
    "sts": ("sts",),
    "codepipeline": ("codepipeline",),
    "cloudwatch": ("monitoring",),
    "logs": ("logs",),
    "application-autoscaling": ("application-autoscaling",),
    "kms": ("kms",),
    "ecr": ("ecr.api",),
    "codebuild": ("codebuild",),
    "codeartifact": ("codeartifact.api", "codeartifact.repositories"),
    "events": ("events",),
    "sns": ("sns",),
    "lambda": ("lambda",),
}


@pytest.fixture(scope="module")
def network_stacks(tmp_path_factory) -> dict[str, dict]:
    """dev with a created VPC, prod with an existing one: one synth of both."""
    from infra.app import select_environments, synthesize

    outdir = tmp_path_factory.mktemp("network") / "cdktf.out"
    # prod's own network (a created VPC) replaced by an existing one, peered with the VPC of
    # the prod stage's secondary region (config/prod.json network.regions).
    context = {"overrides": {"dev": {"network": CREATED},
                             "prod": {"network": {**EXISTING, "cidr": None}}}}
    synthesize(select_environments(context, ["dev", "prod"]), outdir)
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((outdir / "stacks").glob("*/cdk.tf.json"))}


@pytest.fixture(scope="module")
def created(network_stacks) -> dict:
    return network_stacks["fraud-mlops-dev"]


@pytest.fixture(scope="module")
def existing(network_stacks) -> dict:
    return network_stacks["fraud-mlops-prod"]


PRIMARY = "eu-west-1"
# An account that is none of the project's.
OTHER_ACCOUNT = "444444444444"
# Logical IDs of a secondary region's network (infra/network.py SecondaryRegionNetwork).
REGIONAL = "region_network_"


def resources(stack: dict, tf_type: str, *, regional: bool = True) -> dict:
    """A stack's resources of a type; regional=False leaves out the secondary regions'."""
    return {k: v for k, v in stack.get("resource", {}).get(tf_type, {}).items()
            if regional or not k.startswith(REGIONAL)}


def endpoint_services(stack: dict, region: str = "eu-west-1") -> set[str]:
    """The services of the stack's VPC endpoints in `region`."""
    prefix = f"com.amazonaws.{region}."
    return {e["service_name"].removeprefix(prefix)
            for e in resources(stack, "aws_vpc_endpoint").values()
            if e["service_name"].startswith(prefix) and e.get("region", "eu-west-1") == region}


def ref(tf_type: str, stack: dict, logical_prefix: str) -> str:
    (logical_id,) = [k for k in resources(stack, tf_type) if k.startswith(logical_prefix)]
    return f"${{{tf_type}.{logical_id}.id}}"


# --- what the stack creates ---------------------------------------------------------------------

def test_dev_and_the_stage_accounts_have_no_network(stacks):
    for name, stack in stacks.items():
        if name == "fraud-mlops-prod":
            continue
        assert not [t for t in stack.get("resource", {}) if t.startswith(("aws_vpc", "aws_subnet",
                                                                         "aws_security_group"))], name


def test_prod_runs_every_compute_resource_in_its_created_vpc(stacks):
    """config/prod.json is the example of a network (a VPC the stack creates): every build,
    function and training job is in its subnets, every service the code calls has an endpoint."""
    prod = stacks["fraud-mlops-prod"]
    (vpc,) = resources(prod, "aws_vpc", regional=False).values()
    assert vpc["cidr_block"] == "10.40.0.0/16"
    subnets = sorted(f"${{aws_subnet.{k}.id}}"
                     for k in resources(prod, "aws_subnet", regional=False))
    for project in resources(prod, "aws_codebuild_project").values():
        assert sorted(project["vpc_config"]["subnets"]) == subnets
    for function in resources(prod, "aws_lambda_function").values():
        assert sorted(function["vpc_config"]["subnet_ids"]) == subnets
    (training,) = [v["value"] for p in resources(prod, "aws_codebuild_project").values()
                   for v in p["environment"]["environment_variable"]
                   if v["name"] == "TRAINING_VPC_CONFIG"]
    assert sorted(json.loads(training)["Subnets"]) == subnets
    assert set(INTERFACE_ENDPOINTS) | {"s3"} == endpoint_services(prod)


def test_created_vpc_has_two_private_subnets_in_two_zones_and_no_way_out(created):
    (vpc,) = resources(created, "aws_vpc").values()
    assert vpc["cidr_block"] == CREATED["cidr"]
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True
    subnets = list(resources(created, "aws_subnet").values())
    assert len(subnets) == 2
    assert len({s["availability_zone"] for s in subnets}) == 2
    assert all(s["map_public_ip_on_launch"] is False for s in subnets)
    blocks = [ipaddress.IPv4Network(s["cidr_block"]) for s in subnets]
    assert all(b.subnet_of(ipaddress.IPv4Network(CREATED["cidr"])) for b in blocks)
    assert not blocks[0].overlaps(blocks[1])
    for absent in ("aws_internet_gateway", "aws_nat_gateway", "aws_egress_only_internet_gateway",
                   "aws_eip", "aws_route", "aws_vpc_peering_connection"):
        assert not resources(created, absent), absent
    (routes,) = resources(created, "aws_route_table").values()
    assert not routes.get("route"), "the private route table holds only the local route"
    assert len(resources(created, "aws_route_table_association")) == 2
    (default_group,) = resources(created, "aws_default_security_group").values()
    assert "ingress" not in default_group and "egress" not in default_group
    (flow_log,) = resources(created, "aws_flow_log").values()
    assert flow_log["traffic_type"] == "ALL"


@pytest.mark.parametrize("cidr, halves", [("10.20.0.0/16", ["10.20.0.0/17", "10.20.128.0/17"]),
                                          ("192.168.4.0/24", ["192.168.4.0/25",
                                                              "192.168.4.128/25"])])
def test_private_subnets_split_the_vpc_cidr(cidr, halves):
    assert private_subnet_cidrs(cidr) == halves


def test_a_tooling_account_stage_serves_in_the_tooling_subnets_with_the_serving_group(created):
    """dev with a network: its stages are in the tooling account, so their models run in the
    tooling VPC's subnets (issue #25). The deploy step's settings carry them, its CreateModel is
    allowed only with them, and the serving role may attach the models' network interfaces."""
    subnets = sorted(f"${{aws_subnet.{k}.id}}" for k in resources(created, "aws_subnet"))
    serving_group = ref("aws_security_group", created, "network_serving_sg")
    (settings,) = [json.loads(f["environment"]["variables"]["STAGE_SETTINGS"])
                   for f in resources(created, "aws_lambda_function").values()
                   if "STAGE_SETTINGS" in f["environment"]["variables"]]
    assert set(settings) == {"staging", "prod"}
    for stage in settings.values():
        assert sorted(stage["vpc_config"]["subnets"]) == subnets
        assert stage["vpc_config"]["security_group_ids"] == [serving_group]
    policies = {k: json.loads(p["policy"])["Statement"]
                for k, p in resources(created, "aws_iam_role_policy").items()}
    (deploy,) = [s for k, s in policies.items() if k.startswith("deploy_role")]
    creating = {s["Sid"]: s for s in deploy if "sagemaker:CreateModel" in s["Action"]}
    assert set(creating) == {"CreateTaggedModelsInSubnetsStaging",
                             "CreateTaggedModelsInSubnetsProd"}
    for grant in creating.values():
        assert grant["Action"] == ["sagemaker:CreateModel"]
        pinned = grant["Condition"]["ForAllValues:StringEquals"]
        assert sorted(pinned["sagemaker:VpcSubnets"]) == subnets
        assert pinned["sagemaker:VpcSecurityGroupIds"] == [serving_group]
        assert grant["Condition"]["Null"] == {"sagemaker:VpcSubnets": "false",
                                              "sagemaker:VpcSecurityGroupIds": "false"}
    (serving,) = [s for k, s in policies.items() if k.startswith("sagemaker_serving_role")]
    (interfaces,) = [s for s in serving if s["Sid"] == "ManageModelNetworkInterfaces"]
    assert interfaces["Action"] == sorted(SAGEMAKER_INTERFACE_ACTIONS)


def test_existing_vpc_is_used_as_given(existing):
    for tf_type in ("aws_vpc", "aws_subnet", "aws_flow_log"):
        assert not resources(existing, tf_type, regional=False), tf_type
    lookups = existing["data"]["aws_route_table"]
    assert sorted(d["subnet_id"] for d in lookups.values()) == sorted(EXISTING["subnet_ids"])
    for endpoint in resources(existing, "aws_vpc_endpoint", regional=False).values():
        assert endpoint["vpc_id"] == EXISTING["vpc_id"]
        if endpoint["vpc_endpoint_type"] == "Interface":
            assert endpoint["subnet_ids"] == EXISTING["subnet_ids"]
        else:
            # Subnets may share a route table: each table once.
            assert endpoint["route_table_ids"].startswith("${distinct([data.aws_route_table.")


# --- security groups ----------------------------------------------------------------------------

@pytest.mark.parametrize("stack_name", ["fraud-mlops-dev", "fraud-mlops-prod"])
def test_security_groups_allow_only_https_between_compute_endpoints_and_s3(network_stacks,
                                                                          stack_name):
    stack = network_stacks[stack_name]
    groups = resources(stack, "aws_security_group", regional=False)
    # dev serves its stages in the tooling account, so its models get a group; prod's stages are
    # all in their own accounts.
    kinds = {**COMPUTE_KINDS, **(SERVING_KIND if stack_name == "fraud-mlops-dev" else {})}
    assert {g["name"].rsplit("-", 1)[1] for g in groups.values()} == {*kinds, "endpoints"}
    for group in groups.values():
        assert "ingress" not in group and "egress" not in group, "rules are separate resources"
    endpoints_group = ref("aws_security_group", stack, "network_endpoints_sg")
    s3_prefix_list = "${aws_vpc_endpoint.%s.prefix_list_id}" % next(
        k for k in resources(stack, "aws_vpc_endpoint", regional=False) if k.startswith("network_s3"))
    rules = [*resources(stack, "aws_vpc_security_group_egress_rule", regional=False).values(),
             *resources(stack, "aws_vpc_security_group_ingress_rule", regional=False).values()]
    assert rules
    for rule in rules:
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 443, 443)
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
        assert rule["description"]
    egress = resources(stack, "aws_vpc_security_group_egress_rule", regional=False).values()
    by_group = {}
    for rule in egress:
        by_group.setdefault(rule["security_group_id"], set()).add(
            rule.get("referenced_security_group_id") or rule.get("prefix_list_id"))
    for kind in kinds:
        group = ref("aws_security_group", stack, f"network_{kind}_sg")
        expected = {s3_prefix_list} | ({endpoints_group} if kind in API_CALLERS else set())
        assert by_group[group] == expected, kind
    assert endpoints_group not in by_group, "the endpoints send nothing"
    ingress = resources(stack, "aws_vpc_security_group_ingress_rule", regional=False).values()
    assert {r["security_group_id"] for r in ingress} == {endpoints_group}
    assert {r["referenced_security_group_id"] for r in ingress} == {
        ref("aws_security_group", stack, f"network_{kind}_sg") for kind in ("build", "function")}


# --- endpoints ----------------------------------------------------------------------------------

def test_every_interface_endpoint_has_private_dns_the_endpoints_group_and_both_subnets(created):
    subnets = sorted(f"${{aws_subnet.{k}.id}}" for k in resources(created, "aws_subnet"))
    group = ref("aws_security_group", created, "network_endpoints_sg")
    interfaces = [e for e in resources(created, "aws_vpc_endpoint").values()
                  if e["vpc_endpoint_type"] == "Interface"]
    assert len(interfaces) == len(INTERFACE_ENDPOINTS)
    for endpoint in interfaces:
        assert endpoint["private_dns_enabled"] is True
        assert sorted(endpoint["subnet_ids"]) == subnets
        assert endpoint["security_group_ids"] == [group]


@pytest.mark.iam_recorded_calls
def test_every_service_the_role_code_calls_has_an_endpoint(created, recorded_calls):
    """The services of the AWS calls recorded while the moto-backed tests ran the role code
    (every role whose code runs in the VPC), each reached through an endpoint of the stack. A
    new call to a service without one fails here."""
    services = {c["service"] for c in recorded_calls if c["role"] and c["region"] == PRIMARY}
    assert services, "no recorded calls"
    unknown = services - set(PRIVATELINK)
    assert not unknown, (f"recorded calls to {sorted(unknown)}: add their PrivateLink service "
                         "names from AWS's table to PRIVATELINK")
    missing = {s: PRIVATELINK[s] for s in services
               if not set(PRIVATELINK[s]) <= endpoint_services(created)}
    assert not missing, f"services called from inside the VPC without an endpoint: {missing}"


# --- a stage's secondary regions (config network.regions) -----------------------------------

PROD = load_environment("prod")


def secondary(stack: dict, tf_type: str, region: str) -> dict:
    return {k: v for k, v in resources(stack, tf_type).items()
            if k.startswith(f"{REGIONAL}{region.replace('-', '_')}_")}


def test_prod_reaches_each_secondary_region_through_a_peered_vpc(stacks):
    """The tooling VPC (eu-west-1) and a VPC in each secondary region, peered, routed both ways
    by CIDR, with that region's endpoints reachable from the functions' subnets only."""
    prod = stacks["fraud-mlops-prod"]
    assert PROD.network.regions, "config/prod.json is the example of a secondary region's network"
    (tooling_vpc,) = resources(prod, "aws_vpc", regional=False)
    (tooling_routes,) = resources(prod, "aws_route_table", regional=False)
    function_group = ref("aws_security_group", prod, "network_function_sg")
    build_group = ref("aws_security_group", prod, "network_build_sg")
    for region, regional in PROD.network.regions.items():
        (vpc_id, vpc), = secondary(prod, "aws_vpc", region).items()
        assert (vpc["region"], vpc["cidr_block"]) == (region, regional.cidr)
        everything = [v for t in prod["resource"] for v in secondary(prod, t, region).values()]
        # Every regional resource is in that region, except what is global (IAM, Route 53) and
        # the tooling VPC's side (the peering request, its route, its functions' egress).
        placed = {v.get("region") for v in everything}
        assert placed == {region, None}
        (peering_id, peering), = secondary(prod, "aws_vpc_peering_connection", region).items()
        assert peering["vpc_id"] == f"${{aws_vpc.{tooling_vpc}.id}}"
        assert peering["peer_vpc_id"] == f"${{aws_vpc.{vpc_id}.id}}"
        assert peering["peer_region"] == region and "region" not in peering
        (accepter,) = secondary(prod, "aws_vpc_peering_connection_accepter", region).values()
        assert accepter["auto_accept"] is True and accepter["region"] == region
        via = f"${{aws_vpc_peering_connection.{peering_id}.id}}"
        routes = {(r.get("region"), r["route_table_id"], r["destination_cidr_block"])
                  for r in secondary(prod, "aws_route", region).values()
                  if r["vpc_peering_connection_id"] == via}
        (regional_routes,) = secondary(prod, "aws_route_table", region)
        assert routes == {(None, f"${{aws_route_table.{tooling_routes}.id}}", regional.cidr),
                          (region, f"${{aws_route_table.{regional_routes}.id}}",
                           PROD.network.cidr)}
        # Endpoints admit HTTPS from the tooling subnets (by CIDR: no group references across
        # Regions), the functions (the deploy step) and the builds (the monitor job) may send
        # HTTPS there, nothing else.
        ingress = secondary(prod, "aws_vpc_security_group_ingress_rule", region).values()
        assert sorted(r["cidr_ipv4"] for r in ingress) == private_subnet_cidrs(PROD.network.cidr)
        egress = list(secondary(prod, "aws_vpc_security_group_egress_rule", region).values())
        assert sorted((e["security_group_id"], e["cidr_ipv4"]) for e in egress) == sorted(
            (group, regional.cidr) for group in (function_group, build_group))
        for rule in [*ingress, *egress]:
            assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 443, 443)
        for absent in ("aws_internet_gateway", "aws_nat_gateway", "aws_eip"):
            assert not resources(prod, absent), absent
        assert endpoint_services(prod, region) == set(SECONDARY_ENDPOINTS)
        (flow_log,) = secondary(prod, "aws_flow_log", region).values()
        assert flow_log["vpc_id"] == f"${{aws_vpc.{vpc_id}.id}}"


def test_an_existing_vpc_is_peered_with_each_secondary_region(existing):
    """prod with an existing tooling VPC: the secondary region's VPC is peered with it as with a
    created one (test_prod_reaches_each_secondary_region_through_a_peered_vpc), its ranges read
    at plan time: routes to the region from each distinct route table of the given subnets
    (for_each, as tables may be shared), back to the VPC's CIDR, and the region's endpoints
    admit HTTPS from the given subnets' CIDRs."""
    (vpc,) = existing["data"]["aws_vpc"]
    assert existing["data"]["aws_vpc"][vpc]["id"] == EXISTING["vpc_id"]
    subnets = existing["data"]["aws_subnet"]
    assert sorted(d["id"] for d in subnets.values()) == sorted(EXISTING["subnet_ids"])
    for region, regional in PROD.network.regions.items():
        (peering_id, peering), = secondary(existing, "aws_vpc_peering_connection",
                                           region).items()
        assert peering["vpc_id"] == EXISTING["vpc_id"]
        via = f"${{aws_vpc_peering_connection.{peering_id}.id}}"
        routes = [r for r in secondary(existing, "aws_route", region).values()
                  if r["vpc_peering_connection_id"] == via]
        (to_region,) = [r for r in routes if "region" not in r]
        assert to_region["destination_cidr_block"] == regional.cidr
        tables = sorted(f"data.aws_route_table.{k}.id"
                        for k in existing["data"]["aws_route_table"])
        assert to_region["for_each"] == f"${{toset(distinct([{', '.join(tables)}]))}}"
        assert to_region["route_table_id"] == "${each.value}"
        (back,) = [r for r in routes if r.get("region") == region]
        assert back["destination_cidr_block"] == f"${{data.aws_vpc.{vpc}.cidr_block}}"
        ingress = secondary(existing, "aws_vpc_security_group_ingress_rule", region).values()
        assert sorted(r["cidr_ipv4"] for r in ingress) == sorted(
            f"${{data.aws_subnet.{k}.cidr_block}}" for k in subnets)


def test_a_secondary_regions_flow_logs_hold_what_they_need(stacks):
    """The secondary VPC's flow logs deliver to a log group in that region, encrypted with that
    region's key (CloudWatch Logs uses a key of its own region): the flow-log role and the key
    policy hold what AWS's pages list (tests/iam/declarations.py), in that region."""
    from tests.iam.stack_model import StackModel
    from tests.iam.sufficiency import analyse

    model = StackModel(stacks["fraud-mlops-prod"], account=PROD.account_id)
    analysis = analyse(model, "fraud-mlops-prod", [])
    regional = [n for n in analysis.needs
                if any(f":{region}:" in n.resource or f".{region}." in n.principal
                       for region in PROD.network.regions)]
    assert {n.action for n in regional} >= {"logs:CreateLogStream", "logs:PutLogEvents",
                                            "kms:GenerateDataKey"}
    assert analysis.missing(needs=regional) == []


def host_names(stack: dict, region: str) -> dict[str, str]:
    """{DNS name the tooling VPC resolves: PrivateLink service of the endpoint it aliases}, from
    the private hosted zones associated with the tooling VPC and their alias records."""
    (tooling_vpc,) = resources(stack, "aws_vpc", regional=False)
    zones = {f"${{aws_route53_zone.{k}.zone_id}}": z
             for k, z in secondary(stack, "aws_route53_zone", region).items()}
    endpoints = {k: e["service_name"].removeprefix(f"com.amazonaws.{region}.")
                 for k, e in secondary(stack, "aws_vpc_endpoint", region).items()}
    names = {}
    for record in secondary(stack, "aws_route53_record", region).values():
        zone = zones[record["zone_id"]]
        assert zone["vpc"] == [{"vpc_id": f"${{aws_vpc.{tooling_vpc}.id}}",
                                "vpc_region": PRIMARY}]
        assert record["name"].endswith(zone["name"]) and record["type"] == "A"
        (endpoint,) = [k for k in endpoints if f"aws_vpc_endpoint.{k}.dns_entry[0]"
                       in record["alias"]["name"]]
        assert f"aws_vpc_endpoint.{endpoint}.dns_entry[0].hosted_zone_id" in \
            record["alias"]["zone_id"]
        names[record["name"]] = endpoints[endpoint]
    return names


def resolves(names: dict[str, str], host: str) -> str | None:
    """The endpoint service a host name resolves to (a wildcard record covers one label)."""
    if host in names:
        return names[host]
    return names.get("*." + host.split(".", 1)[1])


@pytest.mark.iam_recorded_calls
def test_every_call_in_a_secondary_region_has_an_endpoint_the_tooling_vpc_resolves(
        stacks, recorded_calls):
    """The role code's recorded calls in each region other than the primary (the deploy step in
    a stage's secondary region, tests/lambda_deploy/test_deploy_regions.py): the host name
    botocore sends each to (its endpoint rules, S3 virtual-hosted style) resolves in the
    tooling VPC to an interface endpoint of that service in that region. A new call to a
    service without one, or a region without a network, fails here."""
    import boto3

    prod = stacks["fraud-mlops-prod"]
    calls = [c for c in recorded_calls if c["role"] and c["region"] != PRIMARY]
    regions = {c["region"] for c in calls}
    assert regions, "no recorded calls in a secondary region"
    assert regions <= set(PROD.network.regions), (
        f"calls in {sorted(regions - set(PROD.network.regions))}, which prod's network does not "
        "reach")
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x")
    urls = {key: session.client(key[0], region_name=key[1]).meta.endpoint_url
            for key in {(c["service"], c["region"]) for c in calls}}
    unreachable = set()
    for region in sorted(regions):
        names = host_names(prod, region)
        for call in (c for c in calls if c["region"] == region):
            host = urls[call["service"], region].removeprefix("https://")
            if call["service"] == "s3" and "Bucket" in call["params"]:
                host = f"{call['params']['Bucket']}.{host}"
            if resolves(names, host) not in PRIVATELINK[call["service"]] and not (
                    call["service"] == "s3" and resolves(names, host) == "s3"):
                unreachable.add((region, call["service"], call["operation"], host))
    assert not unreachable, f"calls the tooling VPC cannot reach: {sorted(unreachable)}"


def test_every_endpoint_is_scoped_to_the_project(created, existing):
    """Every endpoint admits only the project's accounts' principals, on resources of the
    project's accounts and name, or on "*" for the actions that take no resource. dev's policies
    are judged against the recorded calls (test_every_call_through_an_endpoint_is_allowed_by_
    its_policy, test_no_endpoint_policy_allows_what_no_call_uses); prod's are the same
    statements (infra/network.py endpoint_policy) over the stage accounts too."""
    tooling = "${data.aws_caller_identity.current.account_id}"
    stage_accounts = {"222222222222", "333333333333"}
    actions = {}
    for stack, prefix, accounts in ((created, "fraud-mlops-dev", {tooling}),
                                    (existing, "fraud-mlops-prod", {tooling, *stage_accounts})):
        for endpoint in resources(stack, "aws_vpc_endpoint", regional=False).values():
            for statement in json.loads(endpoint["policy"])["Statement"]:
                assert statement["Effect"] == "Allow" and statement["Principal"] == {"AWS": "*"}
                assert set(statement["Condition"]["StringEquals"]["aws:PrincipalAccount"]) == (
                    accounts)
                arns = statement["Resource"]
                if arns == "*":
                    assert statement["Sid"] == "ActionsWithoutResource"
                else:
                    for arn in arns:
                        assert prefix in arn or arn.startswith("${aws_"), arn
                        assert arn.startswith("${aws_") or arn.split(":")[2] == "s3" or (
                            arn.split(":")[4] in accounts), arn
                key = (endpoint["service_name"], statement["Sid"])
                assert actions.setdefault(key, statement["Action"]) == statement["Action"], key
    stage_sagemaker = [r for e in resources(existing, "aws_vpc_endpoint").values()
                       if e["service_name"].endswith(".sagemaker.runtime")
                       for st in json.loads(e["policy"])["Statement"] for r in st["Resource"]]
    # prod's stages are in their own accounts: their endpoints only.
    assert {r.split(":")[4] for r in stage_sagemaker} == stage_accounts


# --- packages without internet -----------------------------------------------------------------

BUILDSPECS = Path(__file__).resolve().parents[2] / "pipeline_src" / "buildspecs"


def test_builds_install_their_requirements_from_the_pypi_mirror_through_its_endpoints(created):
    """The builds pip install from PyPI; in the network (no internet) through a CodeArtifact
    repository with PyPI's external connection, reached by the codeartifact endpoints."""
    (domain,) = resources(created, "aws_codeartifact_domain").values()
    assert domain["encryption_key"] == "${aws_kms_key.encryption_key_EEB70057.arn}"
    (repository,) = resources(created, "aws_codeartifact_repository").values()
    assert repository["external_connections"]["external_connection_name"] == "public:pypi"
    assert {"codeartifact.api", "codeartifact.repositories"} <= endpoint_services(created)
    projects = resources(created, "aws_codebuild_project")
    assert len(projects) == 3
    for project in projects.values():
        variables = {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}
        assert variables["CODEARTIFACT_REPOSITORY"].startswith("${aws_codeartifact_repository.")
        spec = yaml.safe_load((BUILDSPECS / Path(project["source"]["buildspec"]).name
                               ).read_text())
        commands = spec["phases"]["install"]["commands"]
        login = next(i for i, c in enumerate(commands) if "aws codeartifact login --tool pip" in c)
        install = next(i for i, c in enumerate(commands) if "pip install" in c)
        assert login < install and '-n "${CODEARTIFACT_DOMAIN:-}"' in commands[login]
        assert "--require-hashes" in commands[install]


def test_without_a_network_builds_install_from_pypi(stacks):
    for name, stack in stacks.items():
        if name == "fraud-mlops-prod":
            continue
        for project in resources(stack, "aws_codebuild_project").values():
            names = {v["name"] for v in project["environment"]["environment_variable"]}
            assert "CODEARTIFACT_DOMAIN" not in names and "vpc_config" not in project


# --- IAM: what running in the VPC takes, and nothing more ----------------------------------------

@pytest.fixture(scope="module")
def network_analysis(created, recorded_calls):
    """The IAM sufficiency analysis (tests/infra/test_iam_sufficiency.py) of dev with a created
    VPC: the same recorded calls, plus the needs of compute in a VPC and of the flow logs
    (tests/iam/declarations.py, with AWS's pages)."""
    from tests.iam.stack_model import StackModel
    from tests.iam.sufficiency import analyse

    return analyse(StackModel(created), "fraud-mlops-dev", recorded_calls)


@pytest.mark.iam_recorded_calls
def test_every_role_in_the_vpc_holds_what_it_needs(network_analysis):
    missing = network_analysis.missing()
    assert not missing, "\n" + "\n".join(missing)
    # Every build, function, training job and served model (dev's stages are in the tooling
    # account) attaches its interfaces with its own role.
    attaching = {network_analysis.principal_name(n.principal) for n in network_analysis.needs
                 if n.action == "ec2:CreateNetworkInterface"}
    assert attaching == {f"fraud-mlops-dev-{purpose}" for purpose in (
        "codebuild-train", "codebuild-test", "codebuild-monitor", "deploy-lambda",
        "retrain-lambda", "sagemaker-training", "sagemaker-serving")}


@pytest.mark.iam_recorded_calls
def test_no_network_grant_is_left_unused(network_analysis):
    excess = network_analysis.excess()
    assert not excess, "\n" + "\n".join(excess)
    principals = {n.principal for n in network_analysis.needs}
    assert {r.arn for r in network_analysis.model.roles.values()} <= principals


NETWORK_SIDS = ("LogInToPackageMirror", "BearerTokenForCodeArtifactOnly",
                "InstallFromPackageMirror",
                "CreateBuildNetworkInterfaces", "AttachBuildNetworkInterfacesInProjectSubnets",
                "ManageFunctionNetworkInterfaces", "ManageTrainingNetworkInterfaces",
                "DescribeOwnLogGroup",
                # dev's stages serve in the tooling VPC (issue 25).
                "ManageModelNetworkInterfaces", "CreateTaggedModelsInSubnetsStaging",
                "CreateTaggedModelsInSubnetsProd")


@pytest.mark.iam_recorded_calls
def test_dropping_a_network_statement_breaks_a_need(network_analysis):
    """The mutation test (tests/infra/test_iam_mutation.py) over what the network adds."""
    checked, harmless = set(), []
    for role in network_analysis.model.roles.values():
        for policy in role.policies:
            for index, stmt in enumerate(policy.statements):
                if stmt.get("Sid") in NETWORK_SIDS or role.name.endswith("-flow-logs"):
                    checked.add(stmt.get("Sid"))
                    if not network_analysis.missing(drop=(policy.name, index)):
                        harmless.append(f"{policy.name} {stmt.get('Sid')}")
    assert set(NETWORK_SIDS) <= checked
    assert not harmless, harmless


@pytest.mark.iam_recorded_calls
def test_the_train_build_starts_training_jobs_only_in_the_networks_subnets(network_analysis,
                                                                           created):
    """CreateTrainingJob's sagemaker:VpcSubnets / sagemaker:VpcSecurityGroupIds (Service
    Authorization Reference, Amazon SageMaker AI condition keys) pinned to the network's, and
    required (a request without a VpcConfig is refused)."""
    from tests.iam.authz import freeze_context

    model = network_analysis.model
    (request,) = [v for p in resources(created, "aws_codebuild_project").values()
                  for v in p["environment"]["environment_variable"]
                  if v["name"] == "TRAINING_VPC_CONFIG"]
    vpc = json.loads(model.resolve(request["value"]))
    recorded = next(n for n in network_analysis.needs
                    if n.action == "sagemaker:CreateTrainingJob")

    def decide(subnets, groups):
        context = {**dict(recorded.context), "sagemaker:VpcSubnets": subnets,
                   "sagemaker:VpcSecurityGroupIds": groups}
        return network_analysis.decide(dataclasses.replace(
            recorded, context=freeze_context(context))).allowed

    assert decide(vpc["Subnets"], vpc["SecurityGroupIds"])
    assert decide(vpc["Subnets"][:1], vpc["SecurityGroupIds"])
    # A request without a VpcConfig (no subnets, no groups) is refused too: Null false.
    without = {k: v for k, v in dict(recorded.context).items()
               if k not in ("sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds")}
    assert not network_analysis.decide(dataclasses.replace(
        recorded, context=freeze_context(without))).allowed
    assert not decide([*vpc["Subnets"], "subnet-0123456789abcdef0"], vpc["SecurityGroupIds"])
    assert not decide(vpc["Subnets"], ["sg-0123456789abcdef0"])


# --- each endpoint admits the project's calls on the project's resources, and nothing more -------

def endpoint_policies(stack: dict, model, region: str) -> dict:
    """{endpoint service: its policy (references resolved)} of the stack's VPC in `region`."""
    from tests.iam.evaluator import Policy

    prefix = f"com.amazonaws.{region}."
    return {e["service_name"].removeprefix(prefix): Policy.of(
        f"endpoint {e['service_name']}", json.loads(model.resolve(e["policy"])))
        for e in resources(stack, "aws_vpc_endpoint").values()
        if e["service_name"].startswith(prefix)}


@pytest.fixture(scope="module")
def endpoint_traffic(network_analysis, created):
    """({endpoint service: (its policy, [needs through it])}, [needs with no endpoint]): the
    needs of the roles in the VPC (tests/iam/declarations.py endpoint_callers, endpoint_of)."""
    from tests.iam import declarations

    model = network_analysis.model
    policies = endpoint_policies(created, model, PRIMARY)
    callers = declarations.endpoint_callers(model)
    through, unreachable = {service: [] for service in policies}, []
    for need in network_analysis.needs:
        if need.principal not in callers:
            continue
        service = declarations.endpoint_of(need, callers[need.principal])
        if service is None:
            continue
        (through[service] if service in through else unreachable).append(need)
    return {service: (policies[service], needs) for service, needs in through.items()}, \
        unreachable


def as_caller(need, principal=None):
    """The need as its principal's request: aws:PrincipalArn and aws:PrincipalAccount are in
    every IAM principal's request context (IAM User Guide, global condition keys)."""
    from tests.iam.authz import freeze_context

    arn = principal or need.principal
    return dataclasses.replace(need, principal=arn, context=freeze_context({
        **need.context_dict, "aws:PrincipalArn": arn, "aws:PrincipalAccount": arn.split(":")[4]}))


def endpoint_decides(policy, need, principal=None):
    """The endpoint policy's decision alone (it must allow, besides the identity and resource
    policies): PrivateLink guide, "Control access to VPC endpoints using endpoint policies"."""
    from tests.iam.evaluator import Principal, Request, evaluate

    need = as_caller(need, principal)
    return evaluate(Request(Principal(arn=need.principal, account=need.principal.split(":")[4]),
                            need.action, need.resource, need.context_dict), resource=[policy])


def judge_endpoints(traffic: dict, project: str) -> tuple[list, list, list]:
    """(denied, unused, too broad) for {endpoint: (its policy, [needs through it])}.

    denied: a need the endpoint's policy refuses. unused: an action or resource of a statement
    no need through the endpoint uses, or a need on a resource of the project's name that a
    statement on "*" allows (it could have been scoped; "*" is for actions that take no resource
    or resources AWS names, like scalable targets). too broad: the need on another project's
    resource, or by another account, is allowed."""
    from tests.iam.sufficiency import Analysis

    denied, unused, other = [], [], []
    for service, (policy, needs) in sorted(traffic.items()):
        needs = [as_caller(n) for n in needs]
        denied += [f"{service}: {n.describe()}: {endpoint_decides(policy, n).reason}"
                   for n in needs if not endpoint_decides(policy, n).allowed]
        for stmt in policy.statements:
            actions, arns = stmt["Action"], stmt["Resource"]
            arns = arns if isinstance(arns, list) else [arns]
            for action in actions:
                if not any(Analysis._uses(n, stmt, action, r) for n in needs for r in arns):
                    unused.append(f"{service} {stmt['Sid']}: {action}")
                if arns == ["*"]:
                    unused += [f"{service} {stmt['Sid']}: {n.action} on {n.resource} could be "
                               "scoped" for n in needs if project in n.resource and
                               Analysis._uses(n, stmt, action, "*")]
            unused += [f"{service} {stmt['Sid']}: {r}" for r in arns
                       if not any(Analysis._uses(n, stmt, a, r) for n in needs for a in actions)]
        for need in needs:
            if project in need.resource:
                elsewhere = dataclasses.replace(
                    need, resource=need.resource.replace(project, "other-team"))
                if endpoint_decides(policy, elsewhere).allowed:
                    other.append(f"{service}: {elsewhere.describe()}")
            if endpoint_decides(policy, need, f"arn:aws:iam::{OTHER_ACCOUNT}:role/x").allowed:
                other.append(f"{service}: {need.action} by {OTHER_ACCOUNT}")
    return sorted(set(denied)), sorted(set(unused)), sorted(set(other))


@pytest.mark.iam_recorded_calls
def test_every_call_through_an_endpoint_is_allowed_by_its_policy(endpoint_traffic):
    """Sufficiency: each recorded call (and each need a service meets through the VPC, such as
    SageMaker reading a job's channels) is allowed by its endpoint's policy, and every endpoint
    carries some call."""
    traffic, unreachable = endpoint_traffic
    assert not unreachable, [n.describe() for n in unreachable]
    denied, _, _ = judge_endpoints(traffic, "fraud-mlops-dev")
    assert not denied, "\n" + "\n".join(denied)
    # dev's stages are in the tooling account: nothing assumes a role, so STS carries no call
    # here (test_the_sts_endpoint_admits_the_stage_roles_the_project_assumes judges prod's).
    assert [service for service, (_, needs) in traffic.items() if not needs] == ["sts"]


@pytest.mark.iam_recorded_calls
def test_no_endpoint_policy_allows_what_no_call_uses(endpoint_traffic):
    """Least privilege: every action and resource of an endpoint policy is used by a call through
    it, nothing on "*" could have been scoped to the project's names, and a call on another
    project's resource or by another account is refused."""
    traffic = {s: t for s, t in endpoint_traffic[0].items() if s != "sts"}  # judged below
    _, unused, other = judge_endpoints(traffic, "fraud-mlops-dev")
    assert not unused, "\n" + "\n".join(unused)
    assert not other, "\n" + "\n".join(other)


@pytest.mark.iam_recorded_calls
def test_the_sts_endpoint_admits_the_stage_roles_the_project_assumes(existing, recorded_calls):
    """prod, stages in their own accounts: the deploy function and the monitor build assume the
    stage deployers and readers through the STS endpoint, and the sessions ask who they are
    (the cross-account tests' recorded calls, made with prod's names): each is allowed, each
    grant used, nothing broader."""
    from tests.iam.authz import Need
    from tests.iam.stack_model import StackModel

    config = load_environment("prod")
    policy = endpoint_policies(existing, StackModel(existing, account=config.account_id),
                               PRIMARY)["sts"]
    stages = {s.account_id for s in config.stages}
    needs = set()
    for call in recorded_calls:
        if call["service"] != "sts" or not call["role"]:
            continue
        if call["operation"] == "AssumeRole" and "fraud-mlops-prod-" in call["params"]["RoleArn"]:
            needs.add(Need(f"arn:aws:iam::{config.account_id}:role/fraud-mlops-prod-"
                           f"{call['role']}", "sts:AssumeRole", call["params"]["RoleArn"]))
        elif call["operation"] == "GetCallerIdentity" and call["account"] in stages:
            needs.add(Need(f"arn:aws:sts::{call['account']}:assumed-role/fraud-mlops-prod-x/s",
                           "sts:GetCallerIdentity", "*"))
    assert {n.resource.split(":")[4] for n in needs if n.resource != "*"} == stages
    denied, unused, other = judge_endpoints({"sts": (policy, list(needs))}, "fraud-mlops-prod")
    assert not denied + unused + other, denied + unused + other


@pytest.mark.iam_recorded_calls
def test_a_secondary_regions_endpoints_admit_the_deploy_steps_calls_there(stacks,
                                                                          recorded_calls):
    """prod's stage in eu-central-1 (config/prod.json): the deploy step's calls there, as the
    stage account's deployer (tests/lambda_deploy/test_deploy_regions.py, prod's names), go
    through that region's endpoints (infra/network.py SecondaryRegionNetwork): each allowed,
    nothing broader (another project's resource, another account). Not every grant is used
    here: the endpoints share the primary region's statements (ENDPOINT_SCOPES), and these
    recordings do not scale an endpoint there."""
    from collections import defaultdict

    from tests.iam import declarations
    from tests.iam.authz import needs_for_call
    from tests.iam.stack_model import StackModel

    config = load_environment("prod")
    prod = stacks["fraud-mlops-prod"]
    model = StackModel(prod, account=config.account_id)
    (region,) = {r for s in config.stages for r in s.secondary_regions or ()}
    policies = endpoint_policies(prod, model, region)
    traffic = {service: (policy, []) for service, policy in policies.items()}
    for call in recorded_calls:
        if not call["role"] or call["region"] != region or call["account"] == config.account_id:
            continue
        deployer = f"arn:aws:iam::{call['account']}:role/fraud-mlops-prod-deployer"
        result = needs_for_call(deployer, call["service"], call["operation"], call["params"],
                                call["response"], region, call["account"], call["test"],
                                defaultdict(dict))
        for need in result.needs:
            service = declarations.endpoint_of(need)
            if service is not None:
                traffic[service][1].append(need)
    assert all(needs for _, needs in traffic.values()), list(traffic)
    denied, _, other = judge_endpoints(traffic, "fraud-mlops-prod")
    assert not denied, "\n" + "\n".join(denied)
    assert not other, "\n" + "\n".join(other)


# --- the bucket admits the in-VPC roles only through the endpoint ------------------------------

@pytest.mark.iam_recorded_calls
def test_in_vpc_roles_reach_the_bucket_only_through_the_endpoint(network_analysis):
    """Every S3 need of a build or function (recorded calls and CodeBuild's artifact handling) is
    allowed with the S3 endpoint's aws:SourceVpce (network_analysis.missing() is empty) and
    denied without it or through another endpoint."""
    from tests.iam import declarations
    from tests.iam.authz import freeze_context

    model = network_analysis.model
    through = declarations.vpc_request_context(model)
    assert {network_analysis.principal_name(arn) for arn in through} == {
        f"fraud-mlops-dev-{purpose}" for purpose in (
            "codebuild-train", "codebuild-test", "codebuild-monitor", "deploy-lambda",
            "retrain-lambda")}
    needs = [n for n in network_analysis.needs
             if n.action.startswith("s3:") and n.principal in through]
    assert len({n.principal for n in needs}) == 4  # the retraining function reads no S3
    for need in needs:
        assert network_analysis.decide(need).allowed
        context = dict(need.context)
        for vpce in (None, "vpce-0123456789abcdef0"):
            changed = {**context, "aws:SourceVpce": vpce}
            decision = network_analysis.decide(dataclasses.replace(
                need, context=freeze_context(changed)))
            assert not decision.allowed, need.describe()


@pytest.mark.iam_recorded_calls
def test_services_and_people_outside_the_vpc_keep_their_access(network_analysis):
    """CodePipeline (artifacts, with its role, also as the deploy step's artifact credentials),
    SageMaker (the training role), Terraform and users uploading data act from outside."""
    from tests.iam.evaluator import Policy, Principal, Request, evaluate

    model = network_analysis.model
    outside = [n for n in network_analysis.needs if n.action.startswith("s3:")
               and "aws:SourceVpce" not in dict(n.context)]
    principals = {network_analysis.principal_name(n.principal) for n in outside}
    assert {"fraud-mlops-dev-codepipeline", "fraud-mlops-dev-sagemaker-training"} <= principals
    assert all(network_analysis.decide(n).allowed for n in outside)
    (bucket,) = [b for b in model.bucket_policies if b.startswith("arn:aws:s3:::fraud-mlops-dev")]
    admin = Policy.of("a person's or Terraform's own policy", {"Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    for arn in ("arn:aws:iam::123456789012:role/data-scientist",
                "arn:aws:iam::123456789012:role/fraud-mlops-terraform"):
        for action, key in (("s3:PutObject", "data/train.csv"),
                            ("s3:PutObject", "source/pipeline_src.zip"),
                            ("s3:GetObject", "monitoring/report.json")):
            request = Request(Principal(arn=arn, account=model.account), action,
                              f"{bucket}/{key}", {"aws:PrincipalArn": arn,
                                                  "aws:SecureTransport": "true"})
            assert evaluate(request, identity=[admin],
                            resource=[model.bucket_policies[bucket]]).allowed, (arn, action)
