"""Snapshot of each environment's synthesized Terraform: every infrastructure change is a diff.

Normalized only where the value is not infrastructure: the '//' metadata (cdktf version, construct
paths) and the content hashes of the two code zips (tested in test_packaging.py), so a code edit
in pipeline_src/ or lambda_deploy/ does not churn these snapshots.
Update after a reviewed change: .venv/bin/python -m pytest tests/infra --snapshot-update
"""
from __future__ import annotations

import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

_ASSET_PATH = re.compile(r"^assets/([^/]+)/[0-9A-F]{32}/(.+)$")


def normalize(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "//":
                continue
            if key in ("source_hash", "source_code_hash") and isinstance(value, str):
                out[key] = "<content hash>"
            else:
                out[key] = normalize(value)
        return out
    if isinstance(node, list):
        return [normalize(v) for v in node]
    if isinstance(node, str):
        match = _ASSET_PATH.match(node)
        if match:
            return f"assets/{match.group(1)}/<content hash>/{match.group(2)}"
    return node


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", ["fraud-mlops-dev", "fraud-mlops-prod",
                                        "fraud-mlops-prod-222222222222-eu-west-1",
                                        "fraud-mlops-prod-333333333333-eu-west-1",
                                        "fraud-mlops-prod-333333333333-eu-central-1"])
def test_stack_matches_snapshot(stacks, stack_name, snapshot_json):
    assert normalize(stacks[stack_name]) == snapshot_json
