"""Dashboard: one CloudWatch dashboard per environment.

Rows: endpoint traffic (invocations, latency, errors) per stage, drift and model quality per
monitored endpoint (the monitor job's metrics), and pipeline runs (the train and test builds).
AWS/SageMaker metrics stay in the endpoint's account and this project does not set up CloudWatch
cross-account observability, so a stage account gets its own traffic dashboard and the tooling
dashboard says where it is; the monitor's metrics are published in the tooling account for every
endpoint in every region it serves from (dimension Region), so its rows cover all stages and
regions. A stage's secondary region has its own traffic dashboard there (infra/stage_region.py).
"""
from __future__ import annotations

import json
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard

from infra.environment import DeploymentTarget
from pipeline_src.jobs.monitor import REGION_DIMENSION

WIDTH = 8
HEIGHT = 6


def _widget(title: str, metrics: list, x: int, y: int, region: str, stat: str = "Sum",
            period: int = 300, annotations=None) -> dict:
    properties = {"title": title, "view": "timeSeries", "region": region, "stat": stat,
                  "period": period, "metrics": metrics}
    if annotations:
        properties["annotations"] = {"horizontal": annotations}
    return {"type": "metric", "x": x, "y": y, "width": WIDTH, "height": HEIGHT,
            "properties": properties}


def _per_endpoint(target: DeploymentTarget, endpoints: Sequence[str], metric: str) -> list:
    names, config = target.names, target.config
    variants = {names.endpoint(s.name): [v.name for v in s.variants] for s in config.stages}
    rows = []
    for endpoint in endpoints:
        for name in variants[endpoint]:
            label = endpoint if len(variants[endpoint]) == 1 else f"{endpoint} {name}"
            rows.append(["AWS/SageMaker", metric, "EndpointName", endpoint, "VariantName", name,
                         {"label": label}])
    return rows


def traffic_widgets(target: DeploymentTarget, endpoints: Sequence[str], y: int = 0) -> list:
    """Invocations, latency and errors of endpoints in target's account and region
    (AWS/SageMaker metrics are in the account and region of the endpoint)."""
    config, region = target.config, target.region

    def rows(metric):
        return _per_endpoint(target, endpoints, metric)

    return [
        _widget("Invocations", rows("Invocations"), 0, y, region),
        _widget("Model latency p99 (µs)", rows("ModelLatency"), WIDTH, y, region,
                stat="p99", annotations=[{"label": "alarm",
                                          "value": config.alarms.model_latency_p99_ms * 1000}]),
        _widget("Errors", rows("Invocation5XXErrors") + rows("Invocation4XXErrors")
                + rows("InvocationModelErrors"), 2 * WIDTH, y, region),
    ]


def elsewhere_note(target: DeploymentTarget, y: int = 0) -> dict:
    """What stands in for the traffic row when no endpoint is in this account."""
    names, config = target.names, target.config
    where = ", ".join(f"{s.name} in account {s.account_id}" for s in config.stages
                      if config.is_remote(s))
    text = (f"Endpoint traffic (invocations, latency, errors) is in the endpoints' accounts "
            f"({where}): see the `{names.dashboard}` dashboard there. The rows below are the "
            "monitor job's drift and quality metrics, which it publishes in this account.")
    return {"type": "text", "x": 0, "y": y, "width": 3 * WIDTH, "height": 2,
            "properties": {"markdown": text}}


def experiment_widget(target: DeploymentTarget, y: int) -> dict:
    """Champion vs challenger: each experiment's latest steps with their sample sizes and
    interval, from the controller's JSON log lines (lambda_deploy/experiment.py: experiment_running,
    experiment_decided, experiment_switching, experiment_ended) in the deploy function's logs."""
    query = (f"SOURCE '{target.names.lambda_log_group}' | fields @timestamp, message"
             " | filter message like /\"event\": \"experiment_/"
             " | sort @timestamp desc | limit 100")
    return {"type": "log", "x": 0, "y": y, "width": 3 * WIDTH, "height": HEIGHT,
            "properties": {"title": "Champion vs challenger: experiment steps (state, labelled "
                                    "pairs, interval)", "region": target.config.region,
                           "query": query, "view": "table"}}


def _monitored_rows(namespace: str, monitored: Sequence[tuple[str, str]], metric: str,
                    primary: str) -> list:
    """One line per (endpoint, region) of the monitor's metric; a secondary region's labelled
    with its region."""
    return [[namespace, metric, "EndpointName", endpoint, REGION_DIMENSION, region,
             {"label": endpoint if region == primary else f"{endpoint} {region}"}]
            for endpoint, region in monitored]


def dashboard_body(target: DeploymentTarget, monitored_endpoints: Sequence[tuple[str, str]],
                   build_projects: Sequence[str]) -> dict:
    """monitored_endpoints: (endpoint, region) the monitor job publishes metrics of (in this
    account and region, whichever region the endpoint serves from)."""
    names, config = target.names, target.config
    region = config.region
    # Endpoints of this account: a stage account's metrics are in that account, on its own
    # dashboard (StageDashboard); CloudWatch cross-account observability is not set up.
    endpoints = [names.endpoint(s.name) for s in config.stages if not config.is_remote(s)]

    def monitored(metric):
        return _monitored_rows(ns, monitored_endpoints, metric, region)

    gate = config.quality_gate
    ns = names.metric_namespace
    period = config.monitoring.schedule_hours * 3600
    widgets = traffic_widgets(target, endpoints) if endpoints else [elsewhere_note(target)]
    widgets += [
        _widget("Drifted feature share", monitored("DriftedFeatureShare"),
                0, HEIGHT, region, stat="Maximum", period=period,
                annotations=[{"label": "drift", "value": config.monitoring.drift_share}]),
        _widget("Captured rows and contract violations",
                monitored("Rows") + monitored("ContractViolations"),
                WIDTH, HEIGHT, region, stat="Sum", period=period),
        _widget("Predicted positive rate", monitored("PositiveRate"),
                2 * WIDTH, HEIGHT, region, stat="Average", period=period),
        _widget("Quality on labelled traffic",
                [row for metric in ("PrAuc", "Recall", "Precision", "F1")
                 for row in monitored(metric)],
                0, 2 * HEIGHT, region, stat="Minimum", period=period,
                annotations=[{"label": "min PR-AUC", "value": gate.min_pr_auc},
                             {"label": "min recall", "value": gate.min_recall}]),
        _widget("Pipeline runs (train and test builds)",
                [["AWS/CodeBuild", metric, "ProjectName", project,
                  {"label": f"{project} {metric}"}]
                 for project in build_projects for metric in ("SucceededBuilds", "FailedBuilds")],
                WIDTH, 2 * HEIGHT, region, period=3600),
    ]
    if any(stage.experiment is not None for stage in config.stages):
        widgets.append(experiment_widget(target, 3 * HEIGHT))
    return {"widgets": widgets}


class Dashboard(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 monitored_endpoints: Sequence[tuple[str, str]],
                 build_projects: Sequence[str]) -> None:
        super().__init__(scope, id_)
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=target.names.dashboard,
            dashboard_body=json.dumps(dashboard_body(target, monitored_endpoints,
                                                     build_projects), indent=2))
        self.dashboard_name = target.names.dashboard


class StageDashboard(Construct):
    """In a stage account: the traffic of its endpoints (their AWS/SageMaker metrics are here)."""

    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 stages: Sequence[str]) -> None:
        super().__init__(scope, id_)
        endpoints = [target.names.endpoint(s) for s in stages]
        CloudwatchDashboard(self, "dashboard", dashboard_name=target.names.dashboard,
                            dashboard_body=json.dumps({"widgets": traffic_widgets(
                                target, endpoints)}, indent=2))
