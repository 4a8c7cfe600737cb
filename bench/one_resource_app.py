"""Reference for bench_synth.py: the smallest useful CDKTF app, one resource from one submodule.

Loads the provider bindings the same fast way as the project (infra.bindings), so the ratio
measures what the project's own code costs on top of cdktf + jsii start-up.
"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra import bindings  # noqa: E402

bindings.prepare_synth()

from cdktf import App, TerraformStack  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket  # noqa: E402

with tempfile.TemporaryDirectory() as outdir:
    app = App(outdir=outdir, skip_validation=True)
    stack = TerraformStack(app, "one-resource")
    S3Bucket(stack, "bucket", bucket="one-resource-bench")
    app.synth()
    assert (Path(outdir) / "stacks" / "one-resource" / "cdk.tf.json").is_file()
