"""`cdktf synth` through cdktf.json, with the CLI installed from npm (make cli-setup), produces
the same stacks as `python main.py`, on the project's Node 24 without end-of-life warnings; so
does CDK Terrain's `cdktn synth` from the same cdktf.json (scripts/cdktn.sh), byte for byte."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.synth_runs import synth_env, tree

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "node_modules" / ".bin" / "cdktf"
CDKTN_CLI = ROOT / "node_modules" / ".bin" / "cdktn"


def stacks(outdir: Path) -> dict[str, dict]:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "//"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {p.parent.name: strip(json.loads(p.read_text()))
            for p in sorted((outdir / "stacks").glob("*/cdk.tf.json"))}


def test_cdktf_synth_matches_python_main(synth_outdir, tmp_path):
    assert CLI.exists(), "the cdktf CLI is not installed: run `make cli-setup` (make test does)"
    out = tmp_path / "cdktf.out"
    proc = subprocess.run([str(ROOT / "scripts" / "cdktf.sh"), "synth", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "end-of-life" not in (proc.stdout + proc.stderr).lower()
    from_cli, from_python = stacks(out), stacks(synth_outdir)
    assert sorted(from_cli) == sorted(from_python) and from_cli
    for name in from_python:
        assert from_cli[name] == from_python[name], f"{name}: cdktf synth differs from python main.py"
    # Assets referenced by the stacks (Lambda zip, pipeline source zip) are written too.
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == sorted(from_python)


def test_cdktn_synth_matches_python_main(cdktn_outdir, other_checkout, tmp_path):
    """scripts/cdktn.sh runs the cdktn CLI with cdktf.json from this checkout; the session's
    cdktn synth ran `python main.py` in another folder: the two outputs are byte-identical, so
    under cdktn too the output does not depend on the CLI or on where the checkout is."""
    assert CDKTN_CLI.exists(), "the cdktn CLI is not installed: run `make cli-setup` (make test does)"
    out = tmp_path / "cdktf.out"
    proc = subprocess.run([str(ROOT / "scripts" / "cdktn.sh"), "synth", "--output", str(out)],
                          cwd=ROOT, env=synth_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "end-of-life" not in (proc.stdout + proc.stderr).lower()
    produced = tree(out)
    assert produced and produced == tree(cdktn_outdir)
    assert not any(str(other_checkout).encode() in b or str(ROOT).encode() in b
                   for b in produced.values())
