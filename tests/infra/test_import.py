"""Importing infra changes nothing: synthesis installs the provider loader, not an import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_infra_has_no_side_effects():
    probe = ("import json, os, sys; before = dict(os.environ); "
             "import infra, infra.config, infra.naming, infra.app, infra.config_schema; "
             "print(json.dumps({'env': sorted(set(os.environ.items()) ^ set(before.items())), "
             "'provider': 'cdktf_cdktf_provider_aws' in sys.modules, 'jsii': 'jsii' in sys.modules}))")
    env = {k: v for k, v in os.environ.items() if k != "JSII_NODE"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"env": [], "provider": False, "jsii": False}


def test_synth_needs_no_ml_stack():
    """The app and its config check import no numpy, pandas or scikit-learn: the cdktn
    environment (envs/cdktn) has none of them, and loading them would slow every synth. The
    `model-family` hyperparameter's choices are checked at synth, so they are declared where
    train.py can give them without importing pipeline_src.model."""
    probe = ("import json, sys; import infra.app, infra.config; "
             "print(json.dumps(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'scipy') "
             "if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
