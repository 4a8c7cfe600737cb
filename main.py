"""Entry point: the CDKTF app, and the project's operational commands.

    python main.py                 synthesize every configured environment (the CDKTF app)
    python main.py synth [--env E] the same, for chosen environments
    python main.py run-local ...   the whole ML path on this machine (pipeline_src)
    python main.py monitor-local . drift and quality of captured traffic, on local folders
    python main.py verdict-local . champion vs challenger verdict, on local capture and labels
    python main.py teardown ...    remove endpoints/configs/models the deploy step created
    python main.py diff ...        review a change: synthesized stacks or a plan, as Markdown
    python main.py versions ...    which model version serves where, per stage and region
    python main.py invoke ...      call a stage's endpoint, failing over to its next region

Subcommands import only what they need, so each starts fast.
"""
from __future__ import annotations

import sys

COMMANDS = {
    "synth": ("infra.app", "main"),
    "run-local": ("pipeline_src.local_run", "main"),
    "monitor-local": ("pipeline_src.monitor_local", "main"),
    "verdict-local": ("pipeline_src.verdict_local", "main"),
    "teardown": ("ops.teardown", "main"),
    "diff": ("ops.synth_diff", "main"),
    "versions": ("ops.versions", "main"),
    "invoke": ("ops.failover", "main"),
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    command, rest = ("synth", argv) if not argv or argv[0].startswith("-") else (argv[0], argv[1:])
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; commands: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    module_name, function = COMMANDS[command]
    import importlib

    from pipeline_src.contract import ContractError

    try:
        return getattr(importlib.import_module(module_name), function)(rest)
    except ContractError as exc:  # pipeline_src/contract.json itself is invalid
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
