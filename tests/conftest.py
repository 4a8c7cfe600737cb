"""Session-wide fixtures: every environment is synthesized once per test session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# One BLAS/OpenMP thread for the suite and the processes it starts, set before numpy or
# scikit-learn load. The suite shares two cores with the Lambda's suite (make test): fits that
# call scikit-learn directly (not through train(), which limits its own threads) spun OpenMP
# pools on a busy core, 10x slower (63 s against 6 s for one test). Results do not depend on
# it; the container tests start their servers without these variables (clean_environment), so
# the serving image's own setting is still what they check.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# Tests synthesize and import constructs: load the provider bindings the way synthesis does.
from infra import bindings  # noqa: E402

try:
    bindings.prepare_synth()
except bindings.FlavourError:
    # No CDK in this Python: the Lambda's runtime (make test-lambda) runs only the tests not
    # marked infra. Elsewhere the synth fixtures call prepare_synth again and fail with the line.
    pass


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory) -> Path:
    """A cdktf.out-like folder with all configured environments, synthesized in-process once."""
    from infra.app import select_environments, synthesize

    outdir = tmp_path_factory.mktemp("cdktf") / "cdktf.out"
    synthesize(select_environments({}, None), outdir)
    return outdir


@pytest.fixture(scope="session")
def other_checkout(tmp_path_factory) -> Path:
    """The working tree as a fresh clone has it, in another folder."""
    from tests.synth_runs import export_checkout

    return export_checkout(tmp_path_factory.mktemp("elsewhere") / "some" / "other-folder")


CDKTN_PYTHON = PROJECT_ROOT / ".venv-cdktn" / "bin" / "python"


@pytest.fixture(scope="session")
def cdktn_synth(other_checkout, tmp_path_factory) -> tuple[Path, str]:
    """(outdir, -X importtime log): every environment synthesized once under CDK Terrain
    (.venv-cdktn, MLOPS_CDK_FLAVOUR=cdktn), in another checkout folder."""
    from tests.synth_runs import synth_env

    assert CDKTN_PYTHON.exists(), "CDK Terrain is not installed: run `make cdktn-setup` (make test does)"
    outdir = tmp_path_factory.mktemp("cdktn") / "cdktn.out"
    proc = subprocess.run([str(CDKTN_PYTHON), "-X", "importtime", "main.py", "synth",
                           "--outdir", str(outdir)], cwd=other_checkout,
                          env=synth_env(**{bindings.FLAVOUR_ENV: "cdktn"}),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return outdir, proc.stderr


@pytest.fixture(scope="session")
def cdktn_outdir(cdktn_synth) -> Path:
    return cdktn_synth[0]


@pytest.fixture(scope="session")
def stack_texts(synth_outdir) -> dict[str, str]:
    """{stack name: cdk.tf.json text}, for cdktf's Testing matchers."""
    return {p.parent.name: p.read_text(encoding="utf-8")
            for p in sorted((synth_outdir / "stacks").glob("*/cdk.tf.json"))}


@pytest.fixture(scope="session")
def stacks(stack_texts) -> dict[str, dict]:
    return {name: json.loads(text) for name, text in stack_texts.items()}


def pytest_configure(config):
    # Records the AWS calls role code makes, for the IAM sufficiency tests (docs/iam.md).
    from tests.iam import recorder

    if not config.pluginmanager.is_registered(recorder):
        config.pluginmanager.register(recorder, "iam-recorder")


@pytest.fixture(scope="session")
def recorded_calls(request, tmp_path_factory) -> list[dict]:
    """Every AWS call made by role code during the moto-backed tests (tests/iam/recorder.py)."""
    from tests.iam import recorder

    return recorder.recorded_calls(request.config, tmp_path_factory.mktemp("iam"))
