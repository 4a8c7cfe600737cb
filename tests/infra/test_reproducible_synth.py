"""`python main.py` from another checkout folder gives byte-identical output; a code change
changes exactly the affected hashes; the ordinary provider import gives the same output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synth_runs import tree

ROOT = Path(__file__).resolve().parents[2]


def run_app(checkout: Path, outdir: Path, *args: str, extra_env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), **(extra_env or {})}
    return subprocess.run([sys.executable, "main.py", *args], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=300)


def test_other_folder_gives_byte_identical_output(other_checkout, synth_outdir, tmp_path):
    result = run_app(other_checkout, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "Synthesized 5 stack(s)" in result.stdout
    assert "fraud-mlops-dev" in result.stdout and "fraud-mlops-prod" in result.stdout
    produced = tree(tmp_path / "out")
    assert produced == tree(synth_outdir)
    assert not any(str(other_checkout).encode() in b or str(ROOT).encode() in b
                   for b in produced.values())


def test_code_change_changes_only_the_affected_hashes(other_checkout, synth_outdir, tmp_path):
    handler = other_checkout / "lambda_deploy" / "handler.py"
    original = handler.read_bytes()
    handler.write_bytes(original + b"\n# reviewed change\n")
    try:
        result = run_app(other_checkout, tmp_path / "out", "synth", "-c", "environments=dev")
    finally:
        handler.write_bytes(original)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out" / "stacks")) == ["fraud-mlops-dev"]
    before = json.loads((synth_outdir / "stacks/fraud-mlops-dev/cdk.tf.json").read_text())
    after = json.loads((tmp_path / "out/stacks/fraud-mlops-dev/cdk.tf.json").read_text())
    changed = [(rtype, lid, attr) for rtype, items in before["resource"].items()
               for lid, res in items.items() for attr in res
               if after["resource"][rtype][lid].get(attr) != res[attr]]
    # dev switches a retraining trigger on: its function runs from the deploy function's zip.
    assert sorted(changed) == [("aws_lambda_function", "deploy_function_F2AD761A", "filename"),
                               ("aws_lambda_function", "deploy_function_F2AD761A",
                                "source_code_hash"),
                               ("aws_lambda_function", "retraining_function_86D2BFC0",
                                "filename"),
                               ("aws_lambda_function", "retraining_function_86D2BFC0",
                                "source_code_hash")]


def test_ordinary_provider_import_gives_identical_output(synth_outdir, tmp_path):
    result = run_app(ROOT, tmp_path / "out", extra_env={"MLOPS_FULL_PROVIDER_IMPORT": "1"})
    assert result.returncode == 0, result.stderr
    assert tree(tmp_path / "out") == tree(synth_outdir)


def test_app_loads_only_the_provider_modules_it_uses(synth_outdir):
    from infra import bindings

    assert bindings.install()  # the session's synthesis installed the lazy loader
    loaded = {m for m in sys.modules if m.startswith("cdktf_cdktf_provider_aws.")}
    # Each resource type the app uses is two modules (its own and its _private); ~50 types with
    # the network's and a secondary region's (peering, routes, hosted zones), of ~1,500 in the
    # package.
    assert 20 <= len(loaded) <= 120
