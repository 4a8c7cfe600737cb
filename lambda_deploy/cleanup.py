"""After a good deploy: drop this stage's old Models/EndpointConfigs, keep a few for rollback.

Only resources carrying this environment's and stage's deploy-step tags are touched. Configs
that never served traffic (their deploy failed or was rolled back) do not count toward the
ones kept: a manual rollback must land on something that worked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

import aws_clients
from lambda_deploy import aws
from lambda_deploy.deploy import TAG_DEPLOYED_AT, config_prefix, ownership_tags
from lambda_deploy.logs import log, warn
from lambda_deploy.settings import Settings, StageSettings


@dataclass(frozen=True)
class Owned:
    name: str
    arn: str
    created: datetime
    tags: dict


@dataclass
class CleanupResult:
    kept: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _owned(kind: str, settings: Settings, stage: str) -> list[Owned]:
    """This stage's deploy-step resources of one kind ('endpoint_config' or 'model')."""
    list_key, name_key, arn_key = {
        "endpoint_config": ("EndpointConfigs", "EndpointConfigName", "EndpointConfigArn"),
        "model": ("Models", "ModelName", "ModelArn"),
    }[kind]
    prefix = config_prefix(settings, stage)
    wanted = {t["Key"]: t["Value"] for t in ownership_tags(settings, stage)}
    found = []
    for item in aws_clients.paginate(aws.target("sagemaker"), f"list_{kind}s", list_key,
                                     NameContains=prefix):
        if not item[name_key].startswith(prefix):
            continue
        tags = aws.target_tags(item[arn_key])
        if all(tags.get(k) == v for k, v in wanted.items()):
            found.append(Owned(item[name_key], item[arn_key], item["CreationTime"], tags))
    return sorted(found, key=lambda o: o.created, reverse=True)


def mark_deployed(config_arn: str) -> None:
    aws.target("sagemaker").add_tags(ResourceArn=config_arn, Tags=[{
        "Key": TAG_DEPLOYED_AT,
        "Value": datetime.now(timezone.utc).isoformat(timespec="seconds")}])


def clean_up(settings: Settings, stage: StageSettings, current: str) -> CleanupResult:
    """Tag `current` as deployed, then delete what is not current nor among the kept ones."""
    result = CleanupResult()
    sagemaker = aws.target("sagemaker")
    try:
        configs = _owned("endpoint_config", settings, stage.stage)
        models = _owned("model", settings, stage.stage)
    except (ClientError, BotoCoreError) as exc:
        result.errors.append(f"listing: {exc}")
        warn("cleanup_failed", error=str(exc))
        return result
    current_config = next((c for c in configs if c.name == current), None)
    if current_config is None:
        result.errors.append(f"current config {current} not found among tagged configs")
        warn("cleanup_skipped", reason=result.errors[-1])
        return result
    try:
        mark_deployed(current_config.arn)
    except (ClientError, BotoCoreError) as exc:
        result.errors.append(f"sagemaker:AddTags {current}: {exc}")
    older = [c for c in configs if c.name != current and c.created <= current_config.created]
    served = [c for c in older if TAG_DEPLOYED_AT in c.tags]
    keep = {current} | {c.name for c in served[: stage.keep_previous]}
    result.kept = sorted(keep)
    # Configs first: a model is never deleted while a remaining config points at it.
    for config in older:
        if config.name not in keep:
            _delete(result, "EndpointConfig", config.name,
                    lambda n=config.name: sagemaker.delete_endpoint_config(EndpointConfigName=n))
    # Model names equal their config names, but an experiment's configs also serve the
    # champion's model and a promotion config the challenger's: what a kept config serves stays.
    in_use = set()
    for name in keep:
        try:
            config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
        except (ClientError, BotoCoreError) as exc:
            result.errors.append(f"sagemaker:DescribeEndpointConfig {name}: {exc}")
            warn("cleanup_skipped", reason=result.errors[-1])
            return result
        in_use |= {v.get("ModelName") for v in config.get("ProductionVariants", [])
                   + config.get("ShadowProductionVariants", [])}
    for model in models:
        # Only models older than the current one go.
        if model.name not in keep | in_use and model.created <= current_config.created:
            _delete(result, "Model", model.name,
                    lambda n=model.name: sagemaker.delete_model(ModelName=n))
    log("cleanup_done", kept=result.kept, deleted=result.deleted, errors=result.errors)
    return result


def _delete(result: CleanupResult, kind: str, name: str, call) -> None:
    try:
        call()
        result.deleted.append(f"{kind} {name}")
    except (ClientError, BotoCoreError) as exc:
        result.errors.append(f"sagemaker:Delete{kind} {name}: {exc}")
