"""What every construct needs to know about where it is deployed: config, names, account, ARNs."""
from __future__ import annotations

from dataclasses import dataclass

from infra.config import EnvironmentConfig
from infra.naming import Names


@dataclass(frozen=True)
class DeploymentTarget:
    config: EnvironmentConfig
    names: Names
    account_id: str  # a Terraform reference to the caller identity, resolved at apply time

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def sagemaker_arn(self, resource_type: str, name: str) -> str:
        return self.arn("sagemaker", f"{resource_type}/{name}")

    def log_group_arn(self, name: str) -> str:
        return self.arn("logs", f"log-group:{name}")

    def service_principal(self, service: str) -> str:
        return f"{service}.amazonaws.com"
