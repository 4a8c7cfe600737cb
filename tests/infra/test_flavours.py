"""CDKTF and CDK Terrain synthesize the same Terraform: every environment under both flavours
(infra/bindings.py: MLOPS_CDK_FLAVOUR), compared stack by stack with deepdiff. The only
differences allowed are the flavour's version in the metadata and the AWS provider's
requirement, each with its reason below; any other difference fails with its path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deepdiff import DeepDiff

from tests.synth_runs import tree

pytestmark = pytest.mark.tools

# Path in a stack's cdk.tf.json -> why it may differ between the flavours.
EXPECTED = {
    ("//", "metadata", "version"):
        "the CDK's own version (cdktf 0.21.0, cdktn 0.24.0): metadata, ignored by Terraform",
    ("terraform", "required_providers", "aws", "source"):
        "cdktf writes the short form 'aws', cdktn 'hashicorp/aws': the same provider, "
        "registry.terraform.io/hashicorp/aws (provider_address below)",
    ("terraform", "required_providers", "aws", "version"):
        "each bindings release is generated for one hashicorp/aws release and pins it "
        "(cdktf-cdktf-provider-aws 21.22.1: 6.25.0; cdktn-provider-aws 25.8.1: 6.69.1)",
}
# manifest.json (which stacks, where): only the CDK's version; its empty lists are also
# formatted differently ("[\n]" vs "[]"), which parsing hides.
EXPECTED_MANIFEST = {("version",): EXPECTED[("//", "metadata", "version")]}


def stack_documents(outdir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((outdir / "stacks").glob("*/cdk.tf.json"))}


def differences(old, new) -> dict[tuple, tuple]:
    """{path: (cdktf value, cdktn value)} of every difference deepdiff finds."""
    found = {}
    for report in DeepDiff(old, new, verbose_level=2).tree.values():
        for level in report:
            found[tuple(level.path(output_format="list"))] = (level.t1, level.t2)
    return found


def provider_address(source: str) -> str:
    """Terraform's fully qualified provider address of a required_providers source.

    hashicorp/terraform internal/addrs/provider.go, ParseProviderSourceString: the hostname
    defaults to registry.terraform.io, and a source with no namespace ("name" alone) gets
    "hashicorp"."""
    parts = source.lower().split("/")
    if len(parts) == 1:
        parts = ["hashicorp"] + parts
    if len(parts) == 2:
        parts = ["registry.terraform.io"] + parts
    return "/".join(parts)


@pytest.fixture(scope="module")
def flavours(stacks, cdktn_outdir) -> tuple[dict, dict]:
    cdktn = stack_documents(cdktn_outdir)
    assert stacks and sorted(cdktn) == sorted(stacks), "the flavours synthesized other stacks"
    return stacks, cdktn


def test_the_flavours_differ_only_where_expected(flavours):
    cdktf, cdktn = flavours
    for name in cdktf:
        found = differences(cdktf[name], cdktn[name])
        unexpected = {p: v for p, v in found.items() if p not in EXPECTED}
        assert not unexpected, f"{name}: cdktn output differs from cdktf's at {unexpected}"
        # Each expected difference is real (else the README's list would be stale).
        assert sorted(found) == sorted(EXPECTED), f"{name}: {sorted(found)}"


def test_both_flavours_require_the_same_aws_provider(flavours):
    cdktf, cdktn = flavours
    for name in cdktf:
        old = cdktf[name]["terraform"]["required_providers"]["aws"]
        new = cdktn[name]["terraform"]["required_providers"]["aws"]
        assert provider_address(old["source"]) == provider_address(new["source"]) == \
            "registry.terraform.io/hashicorp/aws"
        old_version = tuple(int(x) for x in old["version"].split("."))
        new_version = tuple(int(x) for x in new["version"].split("."))
        # Same major release (same resource schemas, no breaking change), never a downgrade.
        assert new_version[0] == old_version[0] and new_version >= old_version, (old, new)


def terraform_providers(stack: dict, folder: Path) -> str:
    """`terraform providers` on a copy of the stack without its backend block (the backend
    would need `terraform init`, which cannot download providers here)."""
    folder.mkdir(parents=True)
    document = {**stack, "terraform": {k: v for k, v in stack["terraform"].items()
                                       if k != "backend"}}
    (folder / "main.tf.json").write_text(json.dumps(document))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(["terraform", "providers", "-no-color"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_terraform_reads_the_same_provider_from_both(flavours, tmp_path):
    cdktf, cdktn = flavours
    name = sorted(cdktf)[0]
    for flavour, stack in (("cdktf", cdktf[name]), ("cdktn", cdktn[name])):
        version = stack["terraform"]["required_providers"]["aws"]["version"]
        assert f"provider[registry.terraform.io/hashicorp/aws] {version}" in \
            terraform_providers(stack, tmp_path / flavour)


def addresses(stack: dict) -> dict[str, list[str]]:
    """What Terraform state is keyed by, and where the state is."""
    return {
        "resources": sorted(f"{rtype}.{name}" for rtype, items in stack.get("resource", {}).items()
                            for name in items),
        "data sources": sorted(f"data.{rtype}.{name}"
                               for rtype, items in stack.get("data", {}).items() for name in items),
        "outputs": sorted(stack.get("output", {})),
        "backend": [json.dumps(stack["terraform"].get("backend"), sort_keys=True)],
    }


def test_existing_state_needs_nothing(flavours):
    """Same resource addresses, data sources, outputs and backend: a stack deployed with cdktf
    finds its state, and `plan` under cdktn maps every resource to its state entry."""
    cdktf, cdktn = flavours
    for name in cdktf:
        before, after = addresses(cdktf[name]), addresses(cdktn[name])
        assert before["resources"], name
        assert after == before, name


def test_assets_and_manifest_are_the_same(synth_outdir, cdktn_outdir):
    cdktf_files, cdktn_files = tree(synth_outdir), tree(cdktn_outdir)
    assert sorted(cdktf_files) == sorted(cdktn_files)
    assets = [path for path in cdktf_files if "/assets/" in path]
    assert assets, "no asset in the output"
    for path in assets:  # the Lambda and source zips: byte for byte
        assert cdktf_files[path] == cdktn_files[path], path
    found = differences(json.loads(cdktf_files["manifest.json"]),
                        json.loads(cdktn_files["manifest.json"]))
    assert sorted(found) == sorted(EXPECTED_MANIFEST), found


def test_cdktn_loads_only_the_provider_modules_it_uses(cdktn_synth):
    """The lazy loader works under cdktn too (bench/bench_synth.py measures the time).

    -X importtime logs the imports the app's code makes, by the cdktf names (the alias then
    loads cdktn's module); had cdktn_provider_aws's own __init__ run, its ~2,400 submodules
    would be logged under their real names."""
    log = cdktn_synth[1]
    loaded = {line.rsplit("|", 1)[1].strip() for line in log.splitlines()
              if line.startswith("import time:") and "|" in line}
    used = {m for m in loaded if m.startswith("cdktf_cdktf_provider_aws.")}
    assert 20 <= len(used) <= 80, sorted(used)
    assert {m for m in loaded if m.startswith("cdktn_provider_aws.")} <= {"cdktn_provider_aws._jsii"}
