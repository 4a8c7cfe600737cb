"""The app's stacks are applied in an order that works: the dependencies in manifest.json are
what `cdktf deploy` with several stacks follows (it starts a stack only after its dependencies),
and the deploy workflow deploys every stack of an environment in one such command."""
from __future__ import annotations

import json


def placement(stack: dict) -> tuple[str, str]:
    """(account, region) a stack's provider works in."""
    (provider,) = stack["provider"]["aws"]
    return provider["allowed_account_ids"][0], provider["region"]


def environment(stack: dict) -> str:
    (provider,) = stack["provider"]["aws"]
    return provider["default_tags"][0]["tags"]["Environment"]


def test_every_stack_is_applied_after_the_stacks_it_needs(synth_outdir, stacks):
    manifest = json.loads((synth_outdir / "manifest.json").read_text())["stacks"]
    assert set(manifest) == set(stacks)
    depends = {name: entry["dependencies"] for name, entry in manifest.items()}
    # The tooling stacks (the pipeline's, one per environment) need nothing.
    tooling = {environment(stack): name for name, stack in stacks.items()
               if "aws_codepipeline" in stack["resource"]}
    assert tooling and all(depends[name] == [] for name in tooling.values())

    def reaches(name: str) -> set[str]:
        seen: set[str] = set()
        todo = list(depends[name])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += depends[current]
        return seen

    remote = set(stacks) - set(tooling.values())
    assert remote, "the multi-account example (config/prod.json) has stage account stacks"
    for name in remote:
        account, region = placement(stacks[name])
        before, own_tooling = reaches(name), tooling[environment(stacks[name])]
        # A stage account's trust policies name the tooling account's roles, which IAM checks
        # exist when the policy is written: its environment's tooling stack comes first.
        assert own_tooling in before, f"{name} is not applied after {own_tooling}"
        # IAM roles are global: a secondary region's stack uses the roles of the account's
        # stack in the primary (the tooling) region.
        primary_region = placement(stacks[own_tooling])[1]
        if region != primary_region:
            assert any(placement(stacks[other]) == (account, primary_region)
                       for other in before), f"{name} is applied before its account's roles"
