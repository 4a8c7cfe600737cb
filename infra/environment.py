"""What every construct needs to know about where it is deployed: config, names, account, ARNs."""
from __future__ import annotations

from dataclasses import dataclass

from infra.config import EnvironmentConfig
from infra.naming import Names
from lambda_deploy.deploy import TAG_ENVIRONMENT, TAG_PROJECT


@dataclass(frozen=True)
class DeploymentTarget:
    config: EnvironmentConfig
    names: Names
    account_id: str  # a Terraform reference to the caller identity, resolved at apply time
    # A stage's secondary region (infra/stage_region.py); None: the environment's region.
    region_name: str | None = None

    @property
    def region(self) -> str:
        return self.region_name or self.config.region

    def in_region(self, region: str) -> "DeploymentTarget":
        """The same account in another region (a stage's secondary region)."""
        return DeploymentTarget(self.config, self.names, self.account_id,
                                None if region == self.config.region else region)

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

    @property
    def ownership_tags(self) -> dict[str, str]:
        """The tags that mark a resource as this environment's (keys declared by the deploy step,
        which teardown finds resources by)."""
        return {TAG_PROJECT: self.config.project, TAG_ENVIRONMENT: self.config.name}

    def owned(self, kind: str) -> dict[str, str]:
        """IAM condition keys requiring the ownership tags: kind "RequestTag" (what a request
        creates or tags) or "ResourceTag" (what it touches)."""
        return {f"aws:{kind}/{key}": value for key, value in self.ownership_tags.items()}

    def in_account(self, account_id: str) -> "DeploymentTarget":
        """The same environment in another of its accounts (a stage account, or the tooling
        account seen from one), in the environment's region."""
        return DeploymentTarget(self.config, self.names, account_id)

    def role_arn(self, purpose: str) -> str:
        """ARN of this environment's role for `purpose` in this target's account (IAM role names
        are global per account, so the name alone fixes it)."""
        return self.arn("iam", f"role/{self.names.role(purpose)}", regional=False)

    @property
    def root_arn(self) -> str:
        return self.arn("iam", "root", regional=False)

    def service_principal(self, service: str) -> str:
        return f"{service}.amazonaws.com"
