"""Review an infrastructure change without cloud credentials: ``python main.py diff``.

    python main.py diff --base origin/main              synthesize the base ref in a temporary
                                                        git worktree and the working tree here,
                                                        and compare them
    python main.py diff --base old-cdktf.out --head cdktf.out   compare two synthesized folders
    python main.py diff --plan fraud-mlops-dev=plan.json        render `terraform show -json` output
    (--base and --plan together: one report with both)

Writes a Markdown summary (stdout, or --output FILE): per stack, resources added / removed /
changed with the changed attributes, resources replaced because their logical ID moved, and the
security-relevant changes (IAM widened, encryption or public-access protection weakened, alarms
or rollback settings removed).

Exit status: 0 no security-relevant change (or allowed with --allow-security-changes or
MLOPS_ALLOW_SECURITY_CHANGES=1), 3 security-relevant change not allowed, 2 bad input
(one line on stderr), 1 internal error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from ops import security_rules
from ops.review_report import (DEFAULT_MAX_CHARS, Report, ResourceChange, StackReport,
                               attribute_changes, render)
from pipeline_src.cli import option_help, print_error

REPO_ROOT = Path(__file__).resolve().parent.parent
ALLOW_ENV = "MLOPS_ALLOW_SECURITY_CHANGES"
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_SECURITY = 0, 1, 2, 3
# Attributes that name the real object: the same value under a new logical ID means the
# resource moved in the construct tree (Terraform would destroy and re-create it).
IDENTITY_ATTRIBUTES = ("name", "bucket", "function_name", "alarm_name", "role", "project_name",
                       "model_package_group_name", "endpoint_name", "topic_arn", "alias",
                       "name_prefix", "bucket_prefix", "key_id", "description")
MOVE_SIMILARITY = 0.6
_REF = re.compile(r"\$\{[^{}]*\}")


# Below this the truncation note alone would not fit.
MIN_MAX_CHARS = 1000


class InputError(ValueError):
    """Bad input from the user; str() is the one-line message."""


# ---- loading synthesized output ------------------------------------------------------------

def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {display_path(path)}: {exc.__class__.__name__}") from None
    except ValueError as exc:
        raise InputError(f"{display_path(path)} is not valid JSON ({exc.msg} at line "
                         f"{exc.lineno})") from None
    except RecursionError:
        raise InputError(f"{display_path(path)} is nested too deeply to be synthesized "
                         "Terraform") from None


def _object(value: Any, where: str) -> dict:
    """A JSON object (or nothing) where cdktf writes one; anything else is not its output."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def display_path(path: Path) -> str:
    """A path for messages and reports: relative to the current folder, never absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path.name
    return path.name if rel.startswith("..") else rel


def _stack_files(outdir: Path) -> dict[str, Path]:
    if (outdir / "cdk.tf.json").is_file():
        return {outdir.name: outdir / "cdk.tf.json"}
    manifest = outdir / "manifest.json"
    if manifest.is_file():
        where = display_path(manifest)
        stacks = _object(_object(_read_json(manifest), where).get("stacks"), f"{where}: stacks")
        if stacks:
            out = {}
            for name, entry in stacks.items():
                rel = _object(entry, f"{where}: stacks.{name}").get("synthesizedStackPath") \
                    or f"stacks/{name}/cdk.tf.json"
                if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
                    raise InputError(f"{where}: stacks.{name}.synthesizedStackPath: expected a "
                                     f"path inside {display_path(outdir)}, got {json.dumps(rel)}")
                out[name] = outdir / rel
            return out
    return {p.parent.name: p for p in sorted(outdir.glob("stacks/*/cdk.tf.json"))}


def load_synth_dir(outdir: Path) -> dict[str, dict]:
    """{stack name: {address: (type, attrs)}} from a cdktf.out folder (or one stack folder)."""
    if not outdir.is_dir():
        raise InputError(f"{display_path(outdir)} is not a folder of synthesized stacks")
    files = _stack_files(outdir)
    if not files:
        raise InputError(f"{display_path(outdir)} holds no synthesized stacks "
                         "(no manifest.json or stacks/*/cdk.tf.json)")
    return {name: stack_items(_read_json(path), name) for name, path in sorted(files.items())}


def _strip_metadata(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [_strip_metadata(v) for v in value]
    return value


def stack_items(doc: Any, name: str = "stack") -> dict[str, tuple[str, dict]]:
    """Everything in one cdk.tf.json that Terraform acts on, keyed by address."""
    if not isinstance(doc, dict):
        raise InputError(f"stack {name}: cdk.tf.json is not a JSON object")
    doc = _strip_metadata(doc)
    where = f"stack {name}: cdk.tf.json"
    items: dict[str, tuple[str, dict]] = {}
    for section, prefix in (("resource", ""), ("data", "data.")):
        for rtype, by_id in sorted(_object(doc.get(section), f"{where}: {section}").items()):
            for logical_id, attrs in sorted(_object(by_id, f"{where}: {section}.{rtype}").items()):
                items[f"{prefix}{rtype}.{logical_id}"] = (rtype, attrs if isinstance(attrs, dict) else {})
    for out_name, attrs in sorted(_object(doc.get("output"), f"{where}: output").items()):
        items[f"output.{out_name}"] = ("output", attrs if isinstance(attrs, dict) else {})
    for provider, configs in sorted(_object(doc.get("provider"), f"{where}: provider").items()):
        for i, attrs in enumerate(configs if isinstance(configs, list) else [configs]):
            alias = (attrs or {}).get("alias") if isinstance(attrs, dict) else None
            items[f"provider.{provider}" + (f".{alias}" if alias else "" if i == 0 else f"[{i}]")] = (
                "provider", attrs if isinstance(attrs, dict) else {})
    terraform = _object(doc.get("terraform"), f"{where}: terraform")
    for key in ("backend", "cloud"):
        if key in terraform:
            items[f"terraform.{key}"] = ("terraform", terraform[key])
    for move_kind in ("moved", "import", "removed"):
        if move_kind in doc:
            items[f"{move_kind} blocks"] = (move_kind, {"blocks": doc[move_kind]})
    return items


# ---- comparing -----------------------------------------------------------------------------

def _normalize_refs(value: Any) -> Any:
    """Attributes with logical IDs inside references blanked, to compare moved resources."""
    if isinstance(value, dict):
        return {k: _normalize_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_refs(v) for v in value]
    if isinstance(value, str):
        return _REF.sub(lambda m: re.sub(r"\b([a-z][a-z0-9_]*)\.[A-Za-z_][A-Za-z0-9_-]*",
                                         r"\1.#", m.group(0)), value)
    return value


def _similarity(a: dict, b: dict) -> float:
    la = dict(security_rules.leaves(_normalize_refs(a)))
    lb = dict(security_rules.leaves(_normalize_refs(b)))
    keys = set(la) | set(lb)
    if not keys:
        return 1.0
    return sum(1 for k in keys if la.get(k, object()) == lb.get(k, object())) / len(keys)


def _identity(attrs: dict) -> Optional[tuple]:
    for key in IDENTITY_ATTRIBUTES:
        value = attrs.get(key)
        if isinstance(value, str) and value and not _REF.fullmatch(value):
            return key, value
    return None


def detect_moves(removed: dict[str, tuple], added: dict[str, tuple]) -> dict[str, str]:
    """{old address: new address} for resources whose logical ID changed but not what they are."""
    candidates = []
    for old_addr, (old_type, old_attrs) in removed.items():
        if old_addr.startswith(("output.", "provider.", "terraform.")):
            continue
        for new_addr, (new_type, new_attrs) in added.items():
            if new_type != old_type:
                continue
            similarity = _similarity(old_attrs, new_attrs)
            ident = _identity(old_attrs)
            same_identity = ident is not None and ident == _identity(new_attrs)
            if same_identity or similarity >= MOVE_SIMILARITY:
                candidates.append((same_identity, similarity, old_addr, new_addr))
    moves: dict[str, str] = {}
    taken: set[str] = set()
    for _, _, old_addr, new_addr in sorted(candidates, key=lambda c: (not c[0], -c[1], c[2], c[3])):
        if old_addr not in moves and new_addr not in taken:
            moves[old_addr] = new_addr
            taken.add(new_addr)
    return moves


def _rename_refs(value: Any, renames: dict[str, str]) -> Any:
    """References to moved resources rewritten to their new addresses."""
    if not renames:
        return value
    if isinstance(value, dict):
        return {k: _rename_refs(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_refs(v, renames) for v in value]
    if isinstance(value, str) and "${" in value:
        pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(renames, key=len, reverse=True))
                             + r")(?![\w-])")
        return _REF.sub(lambda m: pattern.sub(lambda n: renames[n.group(1)], m.group(0)), value)
    return value


def compare_stack(name: str, base: Optional[dict], head: Optional[dict]) -> StackReport:
    """The report for one stack; ``base`` or ``head`` None when the stack is new or gone."""
    base = dict(base or {})
    head = dict(head or {})
    stack = StackReport(name=name, source="synth")
    if not base and head:
        stack.notes.append("new stack")
    if base and not head:
        stack.notes.append("stack removed: `cdktf destroy` it before deleting its configuration")
    removed = {a: base[a] for a in base if a not in head}
    added = {a: head[a] for a in head if a not in base}
    moves = detect_moves(removed, added)
    renames = dict(moves)  # references name resources as type.id and data sources as data.type.id
    base = {a: (t, _rename_refs(attrs, renames)) for a, (t, attrs) in base.items()}

    def add(change: ResourceChange) -> None:
        change.findings = security_rules.findings(change.type, change.before, change.after,
                                                  replaced=change.action == "replace")
        stack.changes.append(change)

    for address in sorted(set(base) | set(head)):
        if address.startswith(("output.", "provider.", "terraform.")) or address.endswith(" blocks"):
            old, new = base.get(address), head.get(address)
            if old != new:
                verb = "added" if old is None else "removed" if new is None else "changed"
                stack.notes.append(f"{_note_name(address)} {verb}")
            continue
        if address in moves.values():
            continue
        rtype = (head.get(address) or base.get(address))[0]
        if address in moves:
            new_address = moves[address]
            before, after = base[address][1], head[new_address][1]
            data = address.startswith("data.")
            add(ResourceChange(
                address=new_address, type=rtype, action="move" if data else "replace",
                before=before, after=after, previous_address=address,
                reason=("logical ID moved (data source: re-read, no effect)" if data else
                        "logical ID moved, so Terraform destroys the old resource and creates "
                        "a new one; keep the old ID (`override_logical_id`) or add a `moved` block"),
                attributes=attribute_changes(before, after)))
        elif address not in base:
            if not address.startswith("data."):
                add(ResourceChange(address=address, type=rtype, action="create",
                                   after=head[address][1]))
        elif address not in head:
            change = ResourceChange(address=address, type=rtype, action="delete",
                                    before=base[address][1])
            if not address.startswith("data."):
                add(change)
            else:  # a data source reads, it does not destroy: listed only when it matters
                change.reason = "data source"
                change.findings = security_rules.findings(rtype, change.before, None)
                if change.findings:
                    stack.changes.append(change)
        elif base[address][1] != head[address][1]:
            before, after = base[address][1], head[address][1]
            attributes = attribute_changes(before, after)
            add(ResourceChange(address=address, type=rtype, action="update", before=before,
                               after=after, attributes=attributes,
                               reason="" if attributes else "layout of a JSON document only"))
    for address, (rtype, _) in sorted(added.items()):
        if address.startswith("data.") and address not in moves.values():
            # Policy documents as data sources: their statements count like a resource's.
            change = ResourceChange(address=address, type=rtype, action="create",
                                    after=head[address][1], reason="data source")
            change.findings = security_rules.findings(rtype, None, change.after)
            if change.findings:
                stack.changes.append(change)
    stack.changes.sort(key=lambda c: c.address)
    return stack


def _note_name(address: str) -> str:
    kind, _, rest = address.partition(".")
    if kind == "terraform":
        return f"Terraform {rest} configuration (where the state lives)"
    if address.endswith(" blocks"):
        return f"`{kind}` blocks"
    return f"{kind} `{rest}`"


def compare(base: dict[str, dict], head: dict[str, dict], title: str, subtitle: str = "") -> Report:
    report = Report(title=title, subtitle=subtitle)
    for name in sorted(set(base) | set(head)):
        report.stacks.append(compare_stack(name, base.get(name), head.get(name)))
    return report


# ---- synthesizing --------------------------------------------------------------------------

def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else "no output"


def synthesize(root: Path, outdir: Path, envs: list[str]) -> Path:
    """Run ``python main.py synth`` in ``root`` writing to ``outdir``; returns the folder."""
    if not (root / "main.py").is_file():
        raise InputError(f"{root.name}: no main.py to synthesize")
    env = dict(os.environ, CDKTF_OUTDIR=str(outdir))
    cmd = [sys.executable, "main.py", "synth"] + [a for e in envs for a in ("--env", e)]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"synthesis failed: {_last_line(proc.stderr or proc.stdout)}")
    if not _stack_files(outdir) and _stack_files(root / "cdktf.out"):
        return root / "cdktf.out"
    return outdir


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def resolve_ref(ref: str) -> str:
    if ref.startswith("-"):
        raise InputError(f"unknown git ref {ref!r}")
    proc = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        raise InputError(f"unknown git ref {ref!r} (not a commit in {REPO_ROOT.name}; "
                         "fetch it first, or give a cdktf.out folder)")
    return proc.stdout.strip()


@contextlib.contextmanager
def synthesized_ref(ref: str, envs: list[str]) -> Iterator[Path]:
    """The output of ``main.py synth`` at ``ref``, from a temporary detached worktree."""
    sha = resolve_ref(ref)
    tmp = Path(tempfile.mkdtemp(prefix="mlops-diff-base-"))
    worktree = tmp / "tree"
    try:
        proc = _git("worktree", "add", "--detach", "--quiet", str(worktree), sha)
        if proc.returncode != 0:
            raise InputError(f"cannot check out {ref!r} in a temporary worktree: "
                             f"{_last_line(proc.stderr)}")
        try:
            synthesized = synthesize(worktree, tmp / "out", envs)
        except InputError as exc:
            raise InputError(f"base {ref!r}: {exc}") from None
        # Outside the try: a failure of the caller (e.g. synthesizing the working tree) is not
        # the base's.
        yield synthesized
    finally:
        if worktree.exists():
            _git("worktree", "remove", "--force", str(worktree))
        _git("worktree", "prune")
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def synthesized_worktree(envs: list[str]) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="mlops-diff-head-"))
    try:
        try:
            synthesized = synthesize(REPO_ROOT, tmp / "out", envs)
        except InputError as exc:
            raise InputError(f"working tree: {exc}") from None
        yield synthesized
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- command line --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise InputError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python main.py diff", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--base", metavar="REF|DIR", help=option_help(
        "what to compare against: a git ref (synthesized in a temporary worktree) or a "
        "synthesized folder (cdktf.out)", default="none: give --base, --plan or both",
        example="--base origin/main"))
    p.add_argument("--head", metavar="DIR", help=option_help(
        "synthesized folder for the change", default="synthesize the working tree",
        example="--head cdktf.out"))
    p.add_argument("--plan", metavar="[STACK=]FILE", action="append", default=[],
                   help=option_help("JSON plan from `terraform show -json plan.out`; repeat per "
                                    "stack", default="none",
                                    example="--plan fraud-mlops-dev=plan.json"))
    p.add_argument("--env", action="append", default=[], metavar="NAME", help=option_help(
        "environment to synthesize on both sides; repeatable", default="every environment",
        example="--env dev"))
    p.add_argument("-o", "--output", metavar="FILE", help=option_help(
        "file the Markdown is written to", default="stdout", example="-o review.md"))
    p.add_argument("--allow-security-changes", action="store_true", help=option_help(
        "exit 0 even with security-relevant changes", default=f"off (or {ALLOW_ENV}=1)",
        example="--allow-security-changes"))
    p.add_argument("--title", default="Infrastructure review", metavar="TEXT", help=option_help(
        "heading of the report", default="Infrastructure review",
        example="--title 'Review of #42'"))
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, metavar="N",
                   help=option_help("truncate the Markdown to this many characters (GitHub "
                                    "comments hold 65,536)", default=str(DEFAULT_MAX_CHARS),
                                    example="--max-chars 30000"))
    return p


def _allowed(args: argparse.Namespace) -> bool:
    env = os.environ.get(ALLOW_ENV, "").strip().lower()
    return bool(args.allow_security_changes or env in ("1", "true", "yes"))


def _folder_or_none(spec: str) -> Optional[Path]:
    path = Path(spec)
    return path if path.is_dir() else None


def build_report(args: argparse.Namespace) -> Report:
    from ops.plan_render import render_plan_file  # imported here: keeps `--help` instant

    if not args.base and not args.plan:
        raise InputError("nothing to review: give --base REF|DIR (synth diff) and/or "
                         "--plan [STACK=]FILE (plan rendering)")
    if args.head and not args.base:
        raise InputError("--head needs --base")
    report = Report(title=args.title)
    subtitles = []
    if args.base:
        with contextlib.ExitStack() as stack:
            base_dir = _folder_or_none(args.base)
            if base_dir is None:
                if os.sep in args.base or args.base.endswith("cdktf.out"):
                    raise InputError(f"base {args.base!r} is neither a folder nor a git ref")
                base_dir = stack.enter_context(synthesized_ref(args.base, args.env))
                base_label = f"`{args.base}` (synthesized from git)"
            else:
                base_label = f"`{display_path(base_dir)}`"
            if args.head:
                head_dir = Path(args.head)
                if not head_dir.is_dir():
                    raise InputError(f"head {args.head!r} is not a folder")
                head_label = f"`{display_path(head_dir)}`"
            else:
                head_dir = stack.enter_context(synthesized_worktree(args.env))
                head_label = "the working tree"
            base = load_synth_dir(base_dir)
            head = load_synth_dir(head_dir)
        if args.env:
            wanted = {n for n in set(base) | set(head) if any(n.endswith(f"-{e}") for e in args.env)}
            base = {k: v for k, v in base.items() if k in wanted}
            head = {k: v for k, v in head.items() if k in wanted}
        synth_report = compare(base, head, args.title)
        report.stacks += synth_report.stacks
        subtitles.append(f"Synth diff: {base_label} → {head_label}. No cloud credentials involved.")
    for spec in args.plan:
        report.stacks.append(render_plan_file(spec))
    if args.plan:
        subtitles.append("Plan: " + ", ".join(f"`{s.name}`" for s in report.stacks
                                             if s.source == "plan") + " (`terraform plan`).")
    report.subtitle = " ".join(subtitles)
    return report


def write_output(path: Path, text: str) -> None:
    """Written whole or not at all: a temporary file beside it, renamed into place."""
    if path.is_dir():
        raise InputError(f"-o {path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent,
                                         prefix=f".{path.name}.", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as exc:
        with contextlib.suppress(OSError, NameError):
            os.unlink(handle.name)
        raise InputError(f"-o {path}: cannot write there ({exc.strerror or exc})") from None


def main(argv: list[str]) -> int:
    from ops.plan_render import PlanError

    try:
        args = build_parser().parse_args(argv)
        if args.max_chars < MIN_MAX_CHARS:
            raise InputError(f"--max-chars {args.max_chars}: at least {MIN_MAX_CHARS}, so the "
                             "summary and security findings fit")
        report = build_report(args)
        allowed = _allowed(args)
        text = render(report, allowed=allowed, max_chars=args.max_chars)
        if args.output:
            write_output(Path(args.output), text)
        else:
            sys.stdout.write(text)
    except (InputError, PlanError) as exc:
        print_error(exc)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print_error(f"{exc.__class__.__name__}: {exc}", prefix="internal error")
        return EXIT_INTERNAL
    count = report.security_count()
    if count and not allowed:
        print(f"{count} security-relevant change(s): review them, then allow with "
              f"--allow-security-changes ({ALLOW_ENV}=1)", file=sys.stderr)
        return EXIT_SECURITY
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
