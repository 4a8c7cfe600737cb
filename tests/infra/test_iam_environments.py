"""The IAM sufficiency and excess tests (tests/infra/test_iam_sufficiency.py) evaluate the dev
stack: the recorded calls carry dev's names. They speak for every environment only if each
environment's policies are dev's with that environment's own names and settings put in. This
checks that for every policy document of every stack (role, trust, bucket, key, topic
policies), so a grant that depends on an environment's settings in any other way fails here
instead of going unevaluated.
"""
from __future__ import annotations

import json

import pytest

from infra.config import load_environments
from infra.naming import Names
from lambda_deploy.deploy import TAG_ENVIRONMENT as ENVIRONMENT_TAG

REFERENCE = "dev"
POLICY_ATTRIBUTES = ("policy", "assume_role_policy")


def environments() -> dict:
    return {config.name: config for config in load_environments()}


def placeholders(config) -> list[tuple[str, str]]:
    """(text, placeholder) for what differs between environments by design, longest text first so
    a name that contains another (the pipeline artifact prefix in the prefix) is taken whole."""
    names = Names(config)
    pairs = [(names.pipeline, "<pipeline>"),
             (names.pipeline_artifact_prefix, "<pipeline-artifact-prefix>"),
             (names.prefix, "<prefix>"),
             # "aws:RequestTag/<key>": "<environment>" and aws:ResourceTag/<key> conditions
             (f'{ENVIRONMENT_TAG}": {json.dumps(config.name)}', f'{ENVIRONMENT_TAG}": "<env>"'),
             (json.dumps(config.training.instance_type), '"<training-instance-type>"')]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def documents(stack: dict, config) -> dict[tuple, str]:
    """{(resource type, logical id, attribute): normalised policy JSON} of one stack."""
    out, replacements = {}, placeholders(config)
    for tf_type, resources in stack.get("resource", {}).items():
        for logical_id, resource in resources.items():
            for attribute in POLICY_ATTRIBUTES:
                if attribute not in resource:
                    continue
                text = json.dumps(json.loads(resource[attribute]), indent=1, sort_keys=True)
                for value, placeholder in replacements:
                    text = text.replace(value, placeholder)
                out[(tf_type, logical_id, attribute)] = text
    return out


def retraining_documents(docs: dict) -> set:
    return {key for key in docs if key[1].startswith("retraining_role")}


# Environments with every stage in the pipeline's account; a multi-account environment's
# documents are judged by tests/infra/test_iam_cross_account.py.
SINGLE_ACCOUNT = sorted(name for name, config in environments().items()
                        if not config.remote_accounts)


@pytest.mark.parametrize("env", sorted(set(SINGLE_ACCOUNT) - {REFERENCE}) or [None])
def test_policies_are_the_reference_environments_with_names_and_settings_put_in(stacks, env):
    if env is None:
        pytest.skip("no single-account environment besides the reference")
    configs = environments()
    reference = documents(stacks[Names(configs[REFERENCE]).stack], configs[REFERENCE])
    other = documents(stacks[Names(configs[env]).stack], configs[env])
    assert len(reference) >= 15
    # The retraining function and its role exist only where a drift alarm retrains.
    expected_only_in_reference = (retraining_documents(reference)
                                  if configs[REFERENCE].monitoring.retrain_on_drift
                                  and not configs[env].monitoring.retrain_on_drift else set())
    assert set(reference) - set(other) == expected_only_in_reference
    assert set(other) - set(reference) == set()
    differing = [key for key in sorted(set(reference) & set(other)) if reference[key] != other[key]]
    assert not differing, "\n".join(f"{'.'.join(key)} differs from {REFERENCE}'s beyond names "
                                     "and settings" for key in differing)


def test_placeholders_hide_only_what_each_environment_sets(stacks):
    """Each placeholder stands in dev's documents (so the comparison above is not vacuous), and
    stage names that merely look like environment names (the prod endpoint) are not replaced."""
    configs = environments()
    dev = documents(stacks[Names(configs[REFERENCE]).stack], configs[REFERENCE])
    text = "\n".join(dev.values())
    assert "<prefix>" in text and f'{ENVIRONMENT_TAG}": "<env>"' in text
    assert "<training-instance-type>" in text and "<pipeline-artifact-prefix>" in text
    # Stage names (staging, prod) are not environment names: they stay.
    assert "<prefix>-prod" in text and "<prefix>-staging" in text
