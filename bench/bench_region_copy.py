"""The secondary region's artifact copy: the deploy step's copy in parts across invocations
(lambda_deploy/regions.py copy_artifact) against the one-invocation streamed copy it replaced
(GetObject streamed into boto3's upload_fileobj), on the same bytes, in moto (two regions).

    nice .venv/bin/python bench/bench_region_copy.py [--mib 200] [--rounds 5]

What it can say: the parted copy's own cost (a HeadObject, one ranged GetObject and one
UploadPart per 64 MiB part, ListParts, one invocation per part here) relative to the streamed
copy, both through the same in-process S3. What it cannot: S3's cross-Region throughput (no AWS
here), which sets how many parts fit in an invocation's 45 s; the copy's correctness is
tests/lambda_deploy/test_deploy_regions.py's. Runs alternate (parted, streamed) within each
round; the figure is the median ratio, with its min and max.
Last line: region_copy: mib=M parts=P parted_s=T streamed_s=S ratio_median=R (min A, max B)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCE, TARGET = "eu-west-1", "eu-central-1"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[key] = "testing"
    import boto3
    from boto3.s3.transfer import TransferConfig
    from moto import mock_aws

    from lambda_deploy import aws, regions

    regions.COPY_SECONDS = 0  # one part per invocation, as with a slow network
    data = os.urandom(args.mib * 1024 * 1024)
    parted, streamed = [], []
    with mock_aws():
        clients = {r: boto3.client("s3", region_name=r) for r in (SOURCE, TARGET)}
        for region, bucket in ((SOURCE, "source-bucket"), (TARGET, "target-bucket")):
            clients[region].create_bucket(Bucket=bucket, CreateBucketConfiguration={
                "LocationConstraint": region})
        clients[SOURCE].put_object(Bucket="source-bucket", Key="model.tar.gz", Body=data)
        aws.target = lambda service, region=None: clients[region or TARGET]
        package = SimpleNamespace(container={"ModelDataUrl": "s3://source-bucket/model.tar.gz"},
                                  arn="arn:package/1", version=1)
        placement = SimpleNamespace(region=TARGET, model_s3_uri="s3://target-bucket/models")
        settings = SimpleNamespace(model_package_group="group")
        invocations = 0
        for _ in range(args.rounds):
            began = time.perf_counter()
            copying = None
            while True:
                invocations += 1
                copying = regions.copy_artifact(package, placement, settings, SOURCE, copying)
                if not isinstance(copying, regions.Copying):
                    break
            parted.append(time.perf_counter() - began)
            began = time.perf_counter()
            body = clients[SOURCE].get_object(Bucket="source-bucket", Key="model.tar.gz")["Body"]
            clients[TARGET].upload_fileobj(body, "target-bucket", "streamed.tar.gz",
                                           Config=TransferConfig(use_threads=False))
            streamed.append(time.perf_counter() - began)
        copied = clients[TARGET].get_object(Bucket="target-bucket",
                                            Key=copying.removeprefix("s3://target-bucket/"))
        assert copied["Body"].read() == data, "the parted copy differs from the artifact"
    ratios = [p / s for p, s in zip(parted, streamed)]
    parts = -(-len(data) // regions.PART_BYTES)
    print(f"artifact {args.mib} MiB, {parts} parts of {regions.PART_BYTES >> 20} MiB, "
          f"{invocations // args.rounds} invocations per copy, {args.rounds} rounds")
    print(f"parted copy:   median {statistics.median(parted):.2f} s "
          f"(min {min(parted):.2f}, max {max(parted):.2f})")
    print(f"streamed copy: median {statistics.median(streamed):.2f} s "
          f"(min {min(streamed):.2f}, max {max(streamed):.2f})")
    print(f"region_copy: mib={args.mib} parts={parts} parted_s={statistics.median(parted):.2f} "
          f"streamed_s={statistics.median(streamed):.2f} "
          f"ratio_median={statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
