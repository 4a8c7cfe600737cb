"""Dashboard: one CloudWatch dashboard per environment.

Rows: endpoint traffic (invocations, latency, errors) per stage, drift and model quality per
monitored endpoint (the monitor job's metrics), and pipeline runs (the train and test builds).
"""
from __future__ import annotations

import json
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard

from infra.environment import DeploymentTarget

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


def dashboard_body(target: DeploymentTarget, monitored_endpoints: Sequence[str],
                   build_projects: Sequence[str]) -> dict:
    names, config = target.names, target.config
    region = config.region
    # Endpoints of this account: a stage account's metrics are in that account.
    endpoints = [names.endpoint(s.name) for s in config.stages if not config.is_remote(s)]
    variants = {names.endpoint(s.name): [v.name for v in s.variants] for s in config.stages}

    def per_endpoint(metric: str, namespace="AWS/SageMaker", variant=True, eps=endpoints):
        rows = []
        for endpoint in eps:
            if not variant:
                rows.append([namespace, metric, "EndpointName", endpoint, {"label": endpoint}])
                continue
            for name in variants[endpoint]:
                label = endpoint if len(variants[endpoint]) == 1 else f"{endpoint} {name}"
                rows.append([namespace, metric, "EndpointName", endpoint, "VariantName", name,
                             {"label": label}])
        return rows

    gate = config.quality_gate
    ns = names.metric_namespace
    period = config.monitoring.schedule_hours * 3600
    widgets = [
        _widget("Invocations", per_endpoint("Invocations"), 0, 0, region),
        _widget("Model latency p99 (µs)", per_endpoint("ModelLatency"), WIDTH, 0, region,
                stat="p99", annotations=[{"label": "alarm",
                                          "value": config.alarms.model_latency_p99_ms * 1000}]),
        _widget("Errors", per_endpoint("Invocation5XXErrors") + per_endpoint("Invocation4XXErrors")
                + per_endpoint("InvocationModelErrors"), 2 * WIDTH, 0, region),
        _widget("Drifted feature share", per_endpoint("DriftedFeatureShare", ns, False,
                                                      monitored_endpoints),
                0, HEIGHT, region, stat="Maximum", period=period,
                annotations=[{"label": "drift", "value": config.monitoring.drift_share}]),
        _widget("Captured rows and contract violations",
                per_endpoint("Rows", ns, False, monitored_endpoints)
                + per_endpoint("ContractViolations", ns, False, monitored_endpoints),
                WIDTH, HEIGHT, region, stat="Sum", period=period),
        _widget("Predicted positive rate", per_endpoint("PositiveRate", ns, False,
                                                        monitored_endpoints),
                2 * WIDTH, HEIGHT, region, stat="Average", period=period),
        _widget("Quality on labelled traffic",
                [row for metric in ("PrAuc", "Recall", "Precision", "F1")
                 for row in per_endpoint(metric, ns, False, monitored_endpoints)],
                0, 2 * HEIGHT, region, stat="Minimum", period=period,
                annotations=[{"label": "min PR-AUC", "value": gate.min_pr_auc},
                             {"label": "min recall", "value": gate.min_recall}]),
        _widget("Pipeline runs (train and test builds)",
                [["AWS/CodeBuild", metric, "ProjectName", project,
                  {"label": f"{project} {metric}"}]
                 for project in build_projects for metric in ("SucceededBuilds", "FailedBuilds")],
                WIDTH, 2 * HEIGHT, region, period=3600),
    ]
    return {"widgets": widgets}


class Dashboard(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 monitored_endpoints: Sequence[str], build_projects: Sequence[str]) -> None:
        super().__init__(scope, id_)
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=target.names.dashboard,
            dashboard_body=json.dumps(dashboard_body(target, monitored_endpoints,
                                                     build_projects), indent=2))
        self.dashboard_name = target.names.dashboard
