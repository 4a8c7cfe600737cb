"""`python main.py <command> --help` describes every option: what it takes, its default and an
example (pipeline_src.cli.option_help), for every command main.py dispatches to."""
from __future__ import annotations

import contextlib
import importlib
import io
import re

import pytest

import main as entry

# What option_help writes at the end of every option's help.
FORM = re.compile(r"^(?P<what>\S.{9,}) \(default: (?P<default>[^;]+); example: (?P<example>.+)\)$",
                  re.DOTALL)


def _options(command: str):
    module = importlib.import_module(entry.COMMANDS[command][0])
    parser = module.build_parser()
    return parser, [a for a in parser._actions if a.help != "show this help message and exit"]


@pytest.mark.parametrize("command", list(entry.COMMANDS))
def test_every_option_says_what_it_takes_its_default_and_an_example(command):
    _, options = _options(command)
    assert options, f"{command} has no options"
    for action in options:
        name = action.option_strings[-1]
        match = FORM.match(action.help or "")
        assert match, f"{command} {name}: help {action.help!r} lacks what/default/example"
        # The example uses the option it documents.
        assert any(re.search(rf"(^|\s){re.escape(o)}(\s|=|$)", match["example"])
                   for o in action.option_strings), f"{command} {name}: {match['example']!r}"
        # A default argparse applies is the one the help states.
        if action.default not in (None, [], False):
            assert str(action.default) in match["default"], \
                f"{command} {name}: default {action.default!r} vs {match['default']!r}"


@pytest.mark.parametrize("command", list(entry.COMMANDS))
def test_help_prints_every_option_and_exits_0(command):
    _, options = _options(command)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = entry.main([command, "--help"])
        except SystemExit as exc:  # argparse's own exit, as `python main.py` lets it happen
            code = exc.code
    assert code == 0
    text = out.getvalue()
    for action in options:
        assert action.option_strings[-1] in text
    assert text.count("(default:") == len(options)
    assert text.count("example:") == len(options)
