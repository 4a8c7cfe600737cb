"""Monitoring: the monitor job (CodeBuild), its schedule, and the drift/quality alarms.

The job (pipeline_src/jobs/monitor.py) runs from the pipeline's own source zip, reads each
captured endpoint's data capture, the served package's training data and delayed labels, and
publishes metrics under ``Names.metric_namespace``; the alarms watch those metrics.

An endpoint in a stage account is read there as that account's monitor reader role
(MonitorReader, in the stage account's stack): the job assumes it with the environment's
monitor ExternalId and reads only the endpoint chain and its data capture with it. The registry,
training data, labels, reports and metrics stay in the tooling account, so the alarms do too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.codebuild_project import (
    CodebuildProject, CodebuildProjectArtifacts, CodebuildProjectSource)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from infra.artifact_store import ArtifactStore
from infra.builds import BUILDSPEC_DIR, build_environment, build_logs
from infra.environment import DeploymentTarget
from infra.execution_role import MODEL_ARTIFACTS
from infra.encryption import EncryptionKey
from infra.iam import log_statement, policy_document, service_role, statement
from infra.naming import Names
from infra.network import Network
from pipeline_src.jobs.monitor import (EXPERIMENT_LIVE, EXPERIMENT_LIVE_VERDICT,
                                       EXPERIMENT_STARTED, EXPERIMENT_VERDICT, REGION_DIMENSION)
from pipeline_src.jobs.monitor_settings import MonitorAnalysis, MonitorJobSettings

# Metric names the job publishes (pipeline_src/monitoring.py metric_values) that alarms watch.
DRIFT_METRIC = "DriftDetected"
QUALITY_METRICS = {"PrAuc": "min_pr_auc", "Recall": "min_recall", "Precision": "min_precision",
                   "F1": "min_f1"}
JOB_TIMEOUT_MINUTES = 60


READER = "monitor-reader"


def monitored_stages(target: DeploymentTarget) -> list[str]:
    """Stages whose endpoints capture data, in whichever account they are."""
    return [s.name for s in target.config.stages if s.data_capture_percent > 0]


def monitored_regions(target: DeploymentTarget) -> list[tuple[str, str]]:
    """(stage, region) of every monitored stage in every region it serves from, primary first:
    the monitor job publishes each with its Region dimension (pipeline_src/jobs/monitor.py)."""
    config = target.config
    return [(s.name, region) for s in config.stages if s.name in monitored_stages(target)
            for region in (config.region, *s.secondary_regions)]


def remote_monitored(target: DeploymentTarget) -> dict[str, str]:
    """Monitored stage -> its account, for the stages in another account than target's."""
    config = target.config
    return {s.name: s.account_id for s in config.stages
            if s.name in monitored_stages(target) and config.is_remote(s)}


class MonitorReader(Construct):
    """In a stage account: the role the tooling account's monitor job reads its endpoints' chain
    and data capture as. Trust: exactly the tooling monitor job's role, with the monitor
    ExternalId. Grants: what pipeline_src/jobs/monitor.py calls with it (serving_chain: describe
    the endpoint, its config and model; read_capture: list and get the capture objects, which S3
    decrypts with this account's key), for the monitored stages of this account only, in every
    region they serve from."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 tooling: DeploymentTarget, store: ArtifactStore, key: EncryptionKey,
                 stages: list[str], secondary_regions: Sequence[dict] = ()) -> None:
        super().__init__(scope, id_)
        names = target.names
        endpoints = [names.endpoint(s) for s in stages]
        monitor_job_role = tooling.role_arn("codebuild-monitor")
        # The exact role as Principal (IAM checks it exists when this is set: the tooling stack
        # is applied first, README "Bootstrapping the accounts").
        trust = policy_document([statement(
            "AssumedByToolingMonitorJobOnly", ["sts:AssumeRole"], None,
            principal={"AWS": monitor_job_role},
            conditions={"StringEquals": {"sts:ExternalId": names.monitor_external_id}})])
        self.role = IamRole(self, "role", name=names.role(READER),
                            description=f"{names.monitor_project} (account "
                                        f"{target.config.account_id}) reads the "
                                        f"{', '.join(stages)} endpoint(s) and capture as this role",
                            assume_role_policy=trust, max_session_duration=3600)
        capture = [f"{Names.DATA_CAPTURE_PREFIX}/{e}/*" for e in endpoints]
        grants = [
            # The deploy step names models and configs <endpoint>-v<version>-<job>.
            statement("FollowEndpointToModelPackage", [
                "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel"], [
                *(target.sagemaker_arn("endpoint", e) for e in endpoints),
                *(target.sagemaker_arn("endpoint-config", f"{e}-v*") for e in endpoints),
                *(target.sagemaker_arn("model", f"{e}-v*") for e in endpoints)]),
            store.read(*capture, sid="ReadCapture"),
            store.list(*capture, sid="ListCapture"),
            key.decrypt(sid="DecryptCaptureThroughS3"),
            # The same in each secondary region the stages serve from
            # (infra/stage_region.py reader_grants).
            *secondary_regions,
        ]
        IamRolePolicy(self, "policy", role=self.role.id, name="read-endpoints",
                      policy=policy_document(grants))
        self.role_arn = self.role.arn


@dataclass(frozen=True)
class MonitoringInputs:
    target: DeploymentTarget
    store: ArtifactStore
    key: EncryptionKey
    group_name: str
    packages_arn: str
    source_key: str
    topic_arn: str
    network: Optional[Network] = None  # None: the job runs outside any VPC


class MonitoringJob(Construct):
    """CodeBuild project running the monitor job, and the EventBridge schedule that starts it."""

    def __init__(self, scope: Construct, id_: str, *, inputs: MonitoringInputs) -> None:
        super().__init__(scope, id_)
        target = inputs.target
        names, config = target.names, target.config
        monitoring = config.monitoring
        self.endpoints = [names.endpoint(s) for s in monitored_stages(target)]
        # (endpoint, region) of each monitored endpoint in each region it serves from.
        self.endpoint_regions = [(names.endpoint(s), r) for s, r in monitored_regions(target)]
        remote = remote_monitored(target)
        local = [names.endpoint(s) for s in monitored_stages(target) if s not in remote]
        readers = {names.endpoint(stage): target.in_account(account).role_arn(READER)
                   for stage, account in remote.items()}
        project_name = names.monitor_project
        log_group_name = names.codebuild_log_group(project_name)
        log_group = CloudwatchLogGroup(self, "logs", name=log_group_name,
                                       retention_in_days=config.log_retention_days,
                                       kms_key_id=inputs.key.key_arn)
        store = inputs.store
        prefix = names.prefix
        role = service_role(
            self, "role", name=names.role("codebuild-monitor"),
            service="codebuild.amazonaws.com", account_id=target.account_id,
            description="Monitor job: drift and quality of captured endpoint traffic",
            policies={"monitor": [
                log_statement(target.log_group_arn(log_group_name)),
                store.read(inputs.source_key, sid="ReadSourceZip", versions=True),
                store.locate(sid="LocateSourceBucket"),
                # The reference is the exact version of the training data the package records.
                store.read_versions(f"{Names.DATA_PREFIX}/*", sid="ReadTrainingDataVersions"),
                store.read(MODEL_ARTIFACTS, sid="ReadModelArtifacts"),
                # Capture is here only for endpoints here; labels are here for every endpoint.
                *([store.read(f"{Names.DATA_CAPTURE_PREFIX}/*", f"{Names.GROUND_TRUTH_PREFIX}/*",
                              sid="ReadCaptureAndLabels"),
                   store.list(f"{Names.DATA_CAPTURE_PREFIX}/*", f"{Names.GROUND_TRUTH_PREFIX}/*",
                              sid="ListCaptureAndLabels")] if local else
                  [store.read(f"{Names.GROUND_TRUTH_PREFIX}/*", sid="ReadLabels"),
                   store.list(f"{Names.GROUND_TRUTH_PREFIX}/*", sid="ListLabels")]),
                store.write(f"{Names.MONITORING_PREFIX}/*", sid="WriteReports"),
                # Champion vs challenger: find an endpoint's experiments, read their start
                # records, write their verdicts (nothing else of the deploy function's state).
                # In every environment, as the deploy function's grants: one policy shape
                # whichever stage runs an experiment.
                store.list(f"{Names.EXPERIMENTS_PREFIX}/*", sid="FindExperiments"),
                store.read(f"{Names.EXPERIMENTS_PREFIX}/*/{EXPERIMENT_STARTED}.json",
                           f"{Names.EXPERIMENTS_PREFIX}/*/{EXPERIMENT_LIVE}.json",
                           sid="ReadExperimentStarts"),
                store.write(f"{Names.EXPERIMENTS_PREFIX}/*/{EXPERIMENT_VERDICT}",
                            f"{Names.EXPERIMENTS_PREFIX}/*/{EXPERIMENT_LIVE_VERDICT}",
                            sid="WriteExperimentVerdicts"),
                inputs.key.use(),
                *([statement("FollowEndpointToModelPackage", [
                    "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeModel"], [
                    target.sagemaker_arn("endpoint", f"{prefix}-*"),
                    target.sagemaker_arn("endpoint-config", f"{prefix}-*"),
                    target.sagemaker_arn("model", f"{prefix}-*")])] if local else []),
                statement("ReadModelPackages", ["sagemaker:DescribeModelPackage"],
                          [inputs.packages_arn]),
                # An endpoint in a stage account is read as that account's reader role.
                *([statement("ReadStageEndpointsAsTheirMonitorReader", ["sts:AssumeRole"],
                             sorted(set(readers.values())),
                             conditions={"StringEquals": {
                                 "sts:ExternalId": names.monitor_external_id}})]
                  if readers else []),
                # PutMetricData has no resource-level permissions; the namespace condition
                # limits it to this project's monitoring metrics.
                statement("PublishMonitoringMetrics", ["cloudwatch:PutMetricData"], "*",
                          conditions={"StringEquals": {
                              "cloudwatch:namespace": names.metric_namespace}}),
                *(inputs.network.grant_builds() if inputs.network else []),
            ]})
        # The job's settings contract (pipeline_src/jobs/monitor_settings.py) writes them.
        job_settings = MonitorJobSettings(
            **{name: getattr(monitoring, name) for name in MonitorAnalysis.model_fields},
            gate=config.quality_gate.thresholds(), endpoints=tuple(self.endpoints),
            metric_namespace=names.metric_namespace,
            output_uri=store.uri(Names.MONITORING_PREFIX),
            ground_truth_uri=store.uri(Names.GROUND_TRUTH_PREFIX),
            data_uri=store.uri(Names.DATA_PREFIX), model_package_group=inputs.group_name,
            kms_key_arn=inputs.key.key_arn, readers=readers,
            external_id=names.monitor_external_id if readers else "",
            regions={names.endpoint(s.name): tuple(s.secondary_regions) for s in config.stages
                     if s.secondary_regions and s.name in monitored_stages(target)},
            experiments={names.endpoint(s.name): s.experiment.verdict_rule()
                         for s in config.stages
                         if s.experiment is not None and s.name in monitored_stages(target)},
            experiments_uri=store.uri(Names.EXPERIMENTS_PREFIX))
        environment = {"PROJECT_NAME": config.project, "ENVIRONMENT": config.name,
                       "RESOURCE_PREFIX": prefix, **job_settings.environment()}
        self.project = CodebuildProject(
            self, "project", name=project_name,
            description="Monitor: drift and model quality of captured endpoint traffic",
            service_role=role.arn, build_timeout=JOB_TIMEOUT_MINUTES, queued_timeout=60,
            encryption_key=inputs.key.key_arn,
            source=CodebuildProjectSource(
                type="S3", location=f"{store.bucket_name}/{inputs.source_key}",
                buildspec=f"{BUILDSPEC_DIR}/monitor.yml"),
            artifacts=CodebuildProjectArtifacts(type="NO_ARTIFACTS"),
            environment=build_environment(
                config.codebuild_compute_type,
                {**environment, **(inputs.network.build_environment() if inputs.network else {})}),
            logs_config=build_logs(log_group.name),
            vpc_config=inputs.network.codebuild_vpc_config() if inputs.network else None)
        self.project_name = project_name
        self.project_arn = self.project.arn

        schedule_role = service_role(
            self, "schedule_role", name=names.role("monitor-schedule"),
            service="events.amazonaws.com", account_id=target.account_id,
            description="EventBridge starts the monitor job on its schedule",
            policies={"start-monitor": [
                statement("StartMonitorJob", ["codebuild:StartBuild"], [self.project.arn])]})
        hours = monitoring.schedule_hours
        rule = CloudwatchEventRule(
            self, "schedule", name=names.rule("monitor-schedule"),
            description=f"Run {project_name} every {hours} h over the last {hours} h of capture",
            schedule_expression=f"rate({hours} hour{'s' if hours > 1 else ''})",
            state="ENABLED" if self.endpoints else "DISABLED")
        CloudwatchEventTarget(self, "schedule_target", rule=rule.name, arn=self.project.arn,
                              role_arn=schedule_role.arn, target_id="monitor")


class MonitoringAlarms(Construct):
    """Per monitored endpoint and region it serves from: drift, and each quality metric below
    the gate, to the topic. The metrics are the tooling account's (the job publishes every
    region's there, with its Region dimension), so the alarms are too. A secondary region's
    alarm names end with the region; the primary's keep their names."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 topic_arn: str) -> None:
        super().__init__(scope, id_)
        names, config = target.names, target.config
        gate = config.quality_gate
        # One data point per run; an alarm evaluates at most a day (schedule_hours <= 24).
        period = config.monitoring.schedule_hours * 3600
        self.drift_alarm_arns: list[str] = []
        self.quality_alarm_arns: list[str] = []
        self.alarm_names: list[str] = []
        for stage, region in monitored_regions(target):
            endpoint = names.endpoint(stage)
            primary = region == config.region
            # Construct IDs and names of the primary's alarms are the ones they had before
            # stages served from several regions (no rename).
            at = stage if primary else f"{stage}_{region.replace('-', '_')}"
            where = endpoint if primary else f"{endpoint} in {region}"

            def alarm_name(metric: str) -> str:
                return names.alarm(stage, metric if primary else f"{metric}-{region}")

            common = dict(namespace=names.metric_namespace,
                          dimensions={"EndpointName": endpoint, REGION_DIMENSION: region},
                          period=period,
                          evaluation_periods=1, datapoints_to_alarm=1,
                          # No run, or no labels yet: nothing to judge.
                          treat_missing_data="notBreaching", alarm_actions=[topic_arn],
                          ok_actions=[topic_arn])
            name = alarm_name("drift")
            drift = CloudwatchMetricAlarm(
                self, f"{at}_drift", alarm_name=name,
                alarm_description=(f"{where}: captured traffic drifted from the served "
                                   "model's training data (see the monitor report)"),
                metric_name=DRIFT_METRIC, statistic="Maximum",
                comparison_operator="GreaterThanOrEqualToThreshold", threshold=1, **common)
            self.drift_alarm_arns.append(drift.arn)
            self.alarm_names.append(name)
            for metric, field in QUALITY_METRICS.items():
                name = alarm_name(metric.lower())
                alarm = CloudwatchMetricAlarm(
                    self, f"{at}_{metric.lower()}", alarm_name=name,
                    alarm_description=(f"{where}: {metric} on labelled traffic below the "
                                       f"quality gate's {getattr(gate, field)}"),
                    metric_name=metric, statistic="Minimum",
                    comparison_operator="LessThanThreshold",
                    threshold=getattr(gate, field), **common)
                self.quality_alarm_arns.append(alarm.arn)
                self.alarm_names.append(name)

