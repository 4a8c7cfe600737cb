"""The function's environment, read with pydantic-settings: the variables infra/deploy_function.py
sets, each checked, STAGE_SETTINGS parsed into the contract's models (lambda_deploy/settings.py).

Kept apart from settings.py so that infra, which imports the contract at synth, does not need
pydantic-settings (the function's zip ships it: docs/lambda-dependencies.md).
"""
from __future__ import annotations

import contextvars
import os
from typing import Mapping

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from lambda_deploy.settings import Settings, fail_validation, parse_stage_settings, _fail

# The mapping read (os.environ unless a caller, e.g. a test, passes its own).
_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("environ")


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, over the mapping being read."""

    def _load_env_vars(self):
        return {k: v for k, v in _ENVIRON.get(os.environ).items() if v is not None}


NonEmpty = Field(min_length=1)


class FunctionEnvironment(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    PROJECT_NAME: str = NonEmpty
    ENVIRONMENT: str = NonEmpty
    RESOURCE_PREFIX: str = NonEmpty
    MODEL_PACKAGE_GROUP: str = NonEmpty
    # JSON, {stage: StageSettings without "stage"}; parsed by the contract (settings.py).
    STAGE_SETTINGS: str = NonEmpty
    SMOKE_TEST_CSV: str = ""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        return (_MappingSource(settings_cls, case_sensitive=True),)

    @model_validator(mode="after")
    def _prefix(self):
        if self.RESOURCE_PREFIX != f"{self.PROJECT_NAME}-{self.ENVIRONMENT}":
            _fail("RESOURCE_PREFIX", f"{self.RESOURCE_PREFIX!r} is not PROJECT_NAME-ENVIRONMENT")
        return self


def read(environ=None) -> Settings:
    token = _ENVIRON.set(os.environ if environ is None else environ)
    try:
        env = FunctionEnvironment()
    except ValidationError as exc:
        fail_validation(exc, "")
    except SettingsError as exc:
        _fail("environment", " ".join(str(exc).split()))
    finally:
        _ENVIRON.reset(token)
    stages = parse_stage_settings(env.STAGE_SETTINGS, env.RESOURCE_PREFIX)
    if any(s.smoke_test for s in stages.values()) and not env.SMOKE_TEST_CSV.strip():
        _fail("SMOKE_TEST_CSV", "empty, but a stage has smoke_test enabled")
    return Settings(project=env.PROJECT_NAME, environment=env.ENVIRONMENT,
                    prefix=env.RESOURCE_PREFIX, model_package_group=env.MODEL_PACKAGE_GROUP,
                    smoke_test_csv=env.SMOKE_TEST_CSV, stages=stages)
