"""PackageMirror: a CodeArtifact repository that mirrors PyPI for builds without internet.

The builds `pip install` the jobs' pinned, hash-checked requirements (pipeline_src/buildspecs/).
In private subnets with no internet gateway or NAT they reach PyPI through this repository's
external connection, over the `codeartifact.api` and `codeartifact.repositories` endpoints
(CodeArtifact User Guide, "Working with Amazon VPC endpoints"; Python packages need no S3
endpoint: "Create the Amazon S3 gateway endpoint"). The hashes still pin every file: a mirror
that served another file would fail the install.
"""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.codeartifact_domain import CodeartifactDomain
from cdktf_cdktf_provider_aws.codeartifact_repository import (
    CodeartifactRepository, CodeartifactRepositoryExternalConnections)

from infra.environment import DeploymentTarget
from infra.iam import statement

PYPI = "public:pypi"
REPOSITORY = "pypi"
# What the buildspecs read to log pip in (aws codeartifact login --tool pip); unset: PyPI itself.
DOMAIN_ENV, OWNER_ENV, REPOSITORY_ENV = ("CODEARTIFACT_DOMAIN", "CODEARTIFACT_DOMAIN_OWNER",
                                         "CODEARTIFACT_REPOSITORY")
# The two interface endpoints pip and the login need.
ENDPOINTS = ("codeartifact.api", "codeartifact.repositories")


class PackageMirror(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 key_arn: str) -> None:
        super().__init__(scope, id_)
        self._target = target
        self.domain = CodeartifactDomain(self, "domain", domain=target.names.prefix,
                                         encryption_key=key_arn)
        self.repository = CodeartifactRepository(
            self, "repository", domain=self.domain.domain, repository=REPOSITORY,
            description="PyPI, for the builds in private subnets",
            external_connections=CodeartifactRepositoryExternalConnections(
                external_connection_name=PYPI))
        self.environment = {DOMAIN_ENV: self.domain.domain, OWNER_ENV: target.account_id,
                            REPOSITORY_ENV: self.repository.repository}

    def endpoint_resources(self) -> dict[str, list[str]]:
        """What the mirror's endpoints are called on: the login's GetAuthorizationToken on the
        domain and GetRepositoryEndpoint on the repository (codeartifact.api), pip's reads of
        the repository (codeartifact.repositories); CodeArtifact User Guide, "Use CodeArtifact
        with VPC endpoints". Python packages need no S3 endpoint ("Create the Amazon S3 gateway
        endpoint": "not needed when using Python or Swift package formats")."""
        return {"codeartifact.api": [self.domain.arn, self.repository.arn],
                "codeartifact.repositories": [self.repository.arn]}

    def read(self) -> list[dict]:
        """What `aws codeartifact login --tool pip` and pip's downloads take (CodeArtifact User
        Guide, "Using CodeArtifact with CodeBuild" and "Bearer token": GetAuthorizationToken
        calls sts:GetServiceBearerToken, allowed only for CodeArtifact)."""
        return [
            statement("LogInToPackageMirror", ["codeartifact:GetAuthorizationToken"],
                      [self.domain.arn]),
            statement("BearerTokenForCodeArtifactOnly", ["sts:GetServiceBearerToken"], "*",
                      conditions={"StringEquals": {
                          "sts:AWSServiceName": "codeartifact.amazonaws.com"}}),
            statement("InstallFromPackageMirror", ["codeartifact:GetRepositoryEndpoint",
                                                   "codeartifact:ReadFromRepository"],
                      [self.repository.arn]),
        ]
