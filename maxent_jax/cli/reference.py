"""The command-line reference, generated from the argparse parsers (never written by hand).

``python -m maxent_jax.cli.reference > docs/cli_reference.md`` rewrites the page;
``tests/cli/test_help.py`` checks that the page in the repository is the one the parsers give,
so every option of every command is in it with its section, default and help text.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterator

__all__ = ["subcommands", "reference_markdown"]

SUPPRESS = argparse.SUPPRESS


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``{name: parser}`` of the sub-commands of the top-level parser, in their order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest.upper()}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    if action.choices:
        return f"`{names} {{{','.join(map(str, action.choices))}}}`"
    meta = action.metavar or action.dest.upper()
    meta = " ".join(meta) if isinstance(meta, tuple) else meta
    return f"`{names} {meta}`"


def _cell(text: str) -> str:
    return " ".join(str(text).replace("%%", "%").replace("|", "\\|").split())


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, SUPPRESS) or action.required:
        return ""
    value = action.default
    if isinstance(value, (tuple, list)):
        value = ",".join(map(str, value))
    return f"`{value}`"


def _sections(parser: argparse.ArgumentParser) -> Iterator[tuple[str, list[argparse.Action]]]:
    """The sections of ``--help`` (the positional and the command's own options as one)."""
    sections: dict[str, list[argparse.Action]] = {}
    for group in parser._action_groups:
        title = ("arguments" if group.title in ("positional arguments", "options",
                                                "optional arguments") else group.title)
        sections.setdefault(title, []).extend(
            a for a in group._group_actions
            if a.help is not SUPPRESS and not isinstance(a, argparse._HelpAction))
    yield from ((t, a) for t, a in sections.items() if a)


def reference_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown page: per sub-command its description, then one table per section of
    ``--help`` (flag, default, help)."""
    if parser is None:
        from maxent_jax.cli import build_parser

        parser = build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the argparse parsers by `python -m maxent_jax.cli.reference > "
             "docs/cli_reference.md`; a test checks that this page is up to date. What each "
             "command writes and its errors: [cli.md](cli.md); why each default has its "
             "value: [settings.md](settings.md).", ""]
    for name, sub in subcommands(parser).items():
        lines += [f"## `maxent-jax {name}`", "", _cell(sub.description or ""), ""]
        for title, actions in _sections(sub):
            lines += [f"**{title}**", "", "| option | default | meaning |", "|---|---|---|"]
            lines += [f"| {_flag(a)} | {_default(a)} | {_cell(a.help or '')} |" for a in actions]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference_markdown())
