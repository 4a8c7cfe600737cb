"""Every Allow statement earns its place: dropping it breaks a need the sufficiency test names.

Each Allow statement of each role policy, key policy and topic policy of the dev stack is left
out in turn; the sufficiency evaluation must then report at least one missing permission. A
statement whose removal breaks nothing is excess. (Deny statements only narrow access; the
policy walker in test_iam_policies.py guards them.)
"""
from __future__ import annotations

import pytest

from tests.iam.stack_model import StackModel
from tests.iam.sufficiency import analyse

# The first test may run the recording tests in a separate pytest (a targeted run): minutes.
pytestmark = [pytest.mark.iam_recorded_calls, pytest.mark.timeout(1800)]
STACK = "fraud-mlops-dev"


@pytest.fixture(scope="module")
def analysis(stacks, recorded_calls):
    return analyse(StackModel(stacks[STACK]), STACK, recorded_calls)


def _policies(model: StackModel):
    for role in model.roles.values():
        yield from role.policies
    yield from model.key_policies.values()
    yield from model.topic_policies.values()


def test_dropping_any_statement_breaks_a_named_need(analysis):
    assert analysis.missing() == []
    harmless, checked = [], 0
    for policy in _policies(analysis.model):
        for index, stmt in enumerate(policy.statements):
            if stmt.get("Effect") != "Allow":
                continue
            checked += 1
            broken = analysis.missing(drop=(policy.name, index))
            if not broken:
                harmless.append(f"{policy.name} {stmt.get('Sid')}")
    assert checked >= 30
    assert not harmless, "statements whose removal breaks nothing:\n" + "\n".join(harmless)


def test_a_dropped_statement_is_named_with_role_action_and_resource(analysis):
    model = analysis.model
    role = model.roles[f"{STACK}-deploy-lambda"]
    (policy,) = role.policies
    index = next(i for i, s in enumerate(policy.statements)
                 if s.get("Sid") == "UpdateAndCallOwnEndpoints")
    broken = analysis.missing(drop=(policy.name, index))
    assert any(line.startswith(f"{STACK}-deploy-lambda cannot sagemaker:UpdateEndpoint on "
                               f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/")
               for line in broken), broken
