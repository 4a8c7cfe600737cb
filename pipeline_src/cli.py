"""What every command shares: one-line usage errors (exit 2), checked numbers and paths, and
output that appears only when a run completes (built in a temporary folder, moved into place).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator


def print_error(message, prefix: str = "error") -> None:
    """The one stderr line of a refused or failed run; line breaks from user input escaped."""
    text = str(message).replace("\r", "\\r").replace("\n", "\\n")
    print(f"{prefix}: {text}", file=sys.stderr)


class UsageError(ValueError):
    """Bad input on the command line; str() is the one-line message (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line naming the option (no usage block) and exit 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def option_help(what: str, *, default: str, example: str) -> str:
    """An option's --help text: what it takes, its default and an example, in that order (one
    form for every command; tests/test_main.py holds every option to it)."""
    return f"{what} (default: {default}; example: {example})".replace("%", "%%")


def int_in(low: int, high: int):
    """An argparse type: an integer in low..high, with a message naming the range."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside the allowed range {low}..{high}")
        return value

    convert.__name__ = "integer"
    return convert


def output_folder(text: str, option: str) -> Path:
    """An output folder that exists or can be created: not empty, not a file."""
    if not text.strip():
        raise UsageError(f"{option}: empty; give a folder")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {text}: is a file, not a folder")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {text}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {text}: {ancestor} is not writable")
    return path


@contextlib.contextmanager
def staged_folder(final: Path, option: str) -> Iterator[Path]:
    """A temporary folder beside `final`; on success its entries replace those in `final`.

    On any failure the temporary folder is removed and `final` is left as it was."""
    final = Path(final)
    parent = final.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=parent))
    except OSError as exc:
        raise UsageError(f"{option} {final}: cannot write there ({exc.strerror or exc})") from None
    try:
        yield staging
        final.mkdir(parents=True, exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = final / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_entries(folder: Path, names) -> None:
    """Remove earlier results so a refused or failed run cannot be mistaken for a good one."""
    for name in names:
        target = Path(folder) / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            with contextlib.suppress(OSError):
                target.unlink()
