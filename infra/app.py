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

from infra.bindings import FlavourError
from infra.config import (ConfigError, EnvironmentConfig, load_environments, parse_json_object,
                          read_text_file)
from pipeline_src.cli import (Parser, UsageError, option_help, output_folder, print_error,
                              staged_folder)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTDIR = "cdktf.out"


def read_context(cli_pairs: list[str]) -> dict:
    """cdktf.json context, then CDKTF_CONTEXT_JSON (set by the cdktf CLI), then -c pairs."""
    context: dict = {}
    cdktf_json = PROJECT_ROOT / "cdktf.json"
    if cdktf_json.exists() or cdktf_json.is_symlink():
        document = parse_json_object(read_text_file(cdktf_json, "cdktf.json"), "cdktf.json")
        file_context = document.get("context", {})
        if not isinstance(file_context, dict):
            raise ConfigError(f"cdktf.json.context: expected an object, got "
                              f"{type(file_context).__name__}")
        context.update(file_context)
    raw = os.environ.get("CDKTF_CONTEXT_JSON")
    if raw:
        context.update(parse_json_object(raw, "CDKTF_CONTEXT_JSON"))
    for pair in cli_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"-c {pair!r}: expected key=value")
        try:
            context[key] = json.loads(value)
        except (ValueError, RecursionError):
            context[key] = value
    return context


def select_environments(context: dict, cli_envs: Optional[list[str]]) -> list[EnvironmentConfig]:
    names = cli_envs if cli_envs is not None else context.get("environments")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise ConfigError("context environments: expected a list of names or 'dev,prod'")
    if names is not None and not names:
        raise ConfigError("context environments: empty; name at least one environment, "
                          "e.g. dev,prod")
    return load_environments(names, context.get("overrides"))


def build_packages(build_dir: Path):
    """The two deterministic zips and the smoke-test rows, shared by all stacks."""
    from infra.packaging import DependenciesMissing, build_zip, installed_dependencies
    from pipeline_src.contract import csv_text, example_rows

    # The contract's example rows first: a contract error is the one a user must see.
    smoke_csv = csv_text(example_rows())
    source_zip = build_zip(PROJECT_ROOT / "pipeline_src", build_dir / "pipeline_src.zip",
                           "pipeline_src")
    try:
        dependencies = installed_dependencies()
    except DependenciesMissing as exc:
        raise ConfigError(str(exc)) from None
    deploy_zip = build_zip(PROJECT_ROOT / "lambda_deploy", build_dir / "lambda_deploy.zip",
                           "lambda_deploy", dependencies=dependencies)
    return source_zip, deploy_zip, smoke_csv


def synthesize(configs: list[EnvironmentConfig], outdir: Path) -> dict[str, Path]:
    """Synthesize the stacks into outdir; returns {stack name: path of cdk.tf.json}.

    The stacks are written to a temporary folder beside outdir and moved in only when all of
    them synthesized, so a refused synth leaves outdir as it was."""
    from infra import bindings

    bindings.prepare_synth()
    from cdktf import App

    from infra.stack import MlopsStack
    from infra.stage_account import StageAccountStack
    from infra.stage_region import StageRegionStack

    with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp, \
            staged_folder(outdir, "--outdir") as staging:
        source_zip, deploy_zip, smoke_csv = build_packages(Path(tmp))
        app = App(outdir=str(staging), stack_traces=False)
        stacks = []
        for config in configs:
            tooling = MlopsStack(app, config, source_zip=source_zip, deploy_zip=deploy_zip,
                                 smoke_test_csv=smoke_csv)
            # One stack per stage account, each applied with that account's credentials.
            accounts = {account: StageAccountStack(app, config, account)
                        for account in config.remote_accounts}
            # And one per stage account and secondary region (infra/stage_region.py).
            regions = [(StageRegionStack(app, config, account, region), accounts[account])
                       for account, region in config.secondary_placements]
            # Apply order as stack dependencies (manifest.json; `cdktf deploy` with several
            # stacks waits for a stack's dependencies): a stage account's trust policies name the
            # tooling account's roles, which IAM checks exist; a secondary region's resources
            # are used through the account's global roles. Ordering only: no value crosses.
            for stack in accounts.values():
                stack.add_dependency(tooling)
            for stack, account_stack in regions:
                stack.add_dependency(account_stack)
            stacks += [tooling, *accounts.values(), *(stack for stack, _ in regions)]
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


def build_parser() -> Parser:
    parser = Parser(prog="python main.py synth", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", action="append", metavar="NAME", help=option_help(
        "environment to synthesize, config/NAME.json; repeat for several",
        default="the context's `environments`, else every config/*.json",
        example="--env dev --env prod"))
    parser.add_argument("--outdir", metavar="DIR", help=option_help(
        "folder the stacks are written to (stacks/<stack>/cdk.tf.json, manifest.json)",
        default="$CDKTF_OUTDIR, else cdktf.out", example="--outdir /tmp/cdktf.out"))
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help=option_help(
                            "context value, JSON or a plain string, as cdktf's context; "
                            "repeatable; `overrides` changes settings per environment",
                            default="cdktf.json's context, then $CDKTF_CONTEXT_JSON",
                            example="-c environments=dev -c 'overrides={\"dev\": {\"prod\": "
                                    "{\"instance_count\": 3}}}'"))
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    started = time.perf_counter()
    try:
        args = parser.parse_args(argv)
        if args.outdir is not None:
            outdir = output_folder(args.outdir, "--outdir")
        else:
            outdir = output_folder(os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR), "CDKTF_OUTDIR")
        configs = select_environments(read_context(args.context), args.env)
        stack_files = synthesize(configs, outdir)
    except (ConfigError, FlavourError, UsageError) as exc:
        print_error(exc)
        return 2
    print(summarize(stack_files, outdir, time.perf_counter() - started))
    return 0
