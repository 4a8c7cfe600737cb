"""The CDKTF app: synthesize every configured environment (or the chosen ones).

Context (cdktf.json "context", CDKTF_CONTEXT_JSON, or -c key=value) selects and overrides:
  environments: "dev,prod" or ["dev"]           which environments to synthesize
  overrides:    {"dev": {"training": {...}}}      settings merged over config/<env>.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from infra.config import ConfigError, EnvironmentConfig, load_environments

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTDIR = "cdktf.out"


def read_context(cli_pairs: list[str]) -> dict:
    """cdktf.json context, then CDKTF_CONTEXT_JSON (set by the cdktf CLI), then -c pairs."""
    context: dict = {}
    cdktf_json = PROJECT_ROOT / "cdktf.json"
    if cdktf_json.is_file():
        context.update(json.loads(cdktf_json.read_text(encoding="utf-8")).get("context") or {})
    raw = os.environ.get("CDKTF_CONTEXT_JSON")
    if raw:
        try:
            context.update(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CDKTF_CONTEXT_JSON: not valid JSON ({exc.msg})") from None
    for pair in cli_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"-c {pair!r}: expected key=value")
        try:
            context[key] = json.loads(value)
        except json.JSONDecodeError:
            context[key] = value
    return context


def select_environments(context: dict, cli_envs: Optional[list[str]]) -> list[EnvironmentConfig]:
    names = cli_envs or context.get("environments")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise ConfigError("context environments: expected a list of names or 'dev,prod'")
    return load_environments(names or None, context.get("overrides"))


def build_packages(build_dir: Path):
    """The two deterministic zips and the smoke-test rows, shared by all stacks."""
    from infra.packaging import build_zip
    from pipeline_src.contract import example_rows

    source_zip = build_zip(PROJECT_ROOT / "pipeline_src", build_dir / "pipeline_src.zip",
                           "pipeline_src")
    deploy_zip = build_zip(PROJECT_ROOT / "lambda_deploy", build_dir / "lambda_deploy.zip",
                           "lambda_deploy")
    smoke_csv = "\n".join(",".join(repr(v) if isinstance(v, float) else str(v) for v in row)
                          for row in example_rows())
    return source_zip, deploy_zip, smoke_csv


def synthesize(configs: list[EnvironmentConfig], outdir: Path) -> dict[str, Path]:
    """Synthesize the stacks into outdir; returns {stack name: path of cdk.tf.json}."""
    from cdktf import App

    from infra.stack import MlopsStack

    with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp:
        source_zip, deploy_zip, smoke_csv = build_packages(Path(tmp))
        app = App(outdir=str(outdir), stack_traces=False)
        stacks = [MlopsStack(app, config, source_zip=source_zip, deploy_zip=deploy_zip,
                             smoke_test_csv=smoke_csv) for config in configs]
        app.synth()
    return {s.node.id: outdir / "stacks" / s.node.id / "cdk.tf.json" for s in stacks}


def summarize(stack_files: dict[str, Path], outdir: Path, seconds: float) -> str:
    lines = [f"Synthesized {len(stack_files)} stack(s) into {outdir} in {seconds:.1f} s:"]
    for name, path in stack_files.items():
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources = sum(len(v) for v in doc.get("resource", {}).values())
        data = sum(len(v) for v in doc.get("data", {}).values())
        lines.append(f"  {name:<24} {resources:>3} resources, {data} data sources, "
                     f"{len(doc.get('output', {}))} outputs -> {path.relative_to(outdir)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="main.py synth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", action="append", help="environment to synthesize (repeatable)")
    parser.add_argument("--outdir", default=os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR))
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="context value (JSON or string), like cdktf's context")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        configs = select_environments(read_context(args.context), args.env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outdir = Path(args.outdir)
    stack_files = synthesize(configs, outdir)
    print(summarize(stack_files, outdir, time.perf_counter() - started))
    return 0
