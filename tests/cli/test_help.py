"""Grouped ``--help`` (network, sampler, learner, run, run folder), the generated command-line
reference (docs/cli_reference.md) and the README's command table, against the parsers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from maxent_jax.cli import build_parser
from maxent_jax.cli._common import GROUP_TITLES
from maxent_jax.cli.reference import reference_markdown, subcommands

ROOT = Path(__file__).resolve().parents[2]
CHAIN_COMMANDS = ("synthesize", "style", "inpaint")


def help_sections(text: str) -> dict[str, set[str]]:
    """``--help`` text -> ``{section title: the --flags listed in it}``."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
            sections[current] = set()
        elif current is not None:
            m = re.match(r"^  (--[a-z0-9-]+)", line)
            if m:
                sections[current].add(m.group(1))
    return sections


@pytest.fixture(scope="module")
def parsers():
    return subcommands(build_parser())


@pytest.mark.parametrize("command", CHAIN_COMMANDS)
def test_chain_commands_list_each_setting_in_its_group(parsers, command):
    from maxent_jax.tasks.inpaint import InpaintConfig
    from maxent_jax.tasks.style import StyleConfig
    from maxent_jax.tasks.texture import SynthesisConfig

    config_cls = {"synthesize": SynthesisConfig, "style": StyleConfig,
                  "inpaint": InpaintConfig}[command]
    sections = help_sections(parsers[command].format_help())
    for name in ("network", "sampler", "learner", "run", "folder"):
        assert GROUP_TITLES[name] in sections, (command, name)
    seen = 0
    for field in dataclasses.fields(config_cls):
        meta = field.metadata
        if meta.get("cli") is False or "group" not in meta:
            continue
        flag = meta.get("flag", "--" + field.name.replace("_", "-"))
        assert flag in sections[GROUP_TITLES[meta["group"]]], (command, flag)
        seen += 1
    assert seen >= 30
    for flag in ("--resume", "--overwrite", "--devices", "--weights", "--no-progress"):
        assert flag in sections[GROUP_TITLES["folder"]], (command, flag)
    assert "--gamma" not in sections[GROUP_TITLES["learner"]]


def test_sample_groups_its_options(parsers):
    sections = help_sections(parsers["sample"].format_help())
    assert {"--steps", "--sampler", "--gamma"} <= sections[GROUP_TITLES["sampler"]]
    assert "--seed" in sections[GROUP_TITLES["run"]]  # where synthesize has it
    assert {"--precision", "--conv", "--remat"} <= sections[GROUP_TITLES["network"]]
    assert {"--devices", "--overwrite", "--weights"} <= sections[GROUP_TITLES["folder"]]


def test_help_strings_cite_docs_not_measured_figures(parsers):
    text = "\n".join(p.format_help() for p in parsers.values())
    assert "5-10 at 256 px" not in text and "300-1000 at 64 px" not in text


def test_the_cli_reference_page_is_generated_and_up_to_date(parsers):
    page = (ROOT / "docs" / "cli_reference.md").read_text()
    assert page == reference_markdown(), \
        "docs/cli_reference.md is stale: python -m maxent_jax.cli.reference > docs/cli_reference.md"
    for name, parser in parsers.items():  # a second route: the flags of the --help text
        assert f"## `maxent-jax {name}`" in page
        body = page.split(f"## `maxent-jax {name}`")[1].split("\n## ")[0]
        flags = set().union(*help_sections(parser.format_help()).values()) - {"--help"}
        assert flags, name
        for flag in flags:
            assert re.search(rf"`{re.escape(flag)}[ `,]", body), (name, flag)


def test_the_readme_command_table_lists_every_command(parsers):
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Command line")[1].split("\n## ")[0]
    listed = re.findall(r"^\| `maxent-jax ([a-z-]+)", table, flags=re.M)
    assert sorted(listed) == sorted(parsers), (listed, list(parsers))


def test_sample_declares_its_settings_flags_from_run_settings(parsers):
    """``maxent-jax sample`` takes the network and sampler settings it shares with
    ``synthesize`` from :mod:`maxent_jax.run.settings` (one declaration): the same flag, help
    text, choices and group; its own defaults only where it means "the learning run's"."""
    from maxent_jax.run.settings import SOULConfig

    fields = {f.name: f for f in dataclasses.fields(SOULConfig)}
    actions = {a.dest: a for a in parsers["sample"]._actions}
    shared = ("precision", "conv", "remat", "sampler", "gamma", "precondition", "mala_energy",
              "seed")
    for name in shared:
        meta, action = fields[name].metadata, actions[name]
        assert action.help.startswith(meta["help"]), name
        assert tuple(action.choices or ()) == tuple(meta.get("choices") or ()), name
        default = getattr(SOULConfig(), name)
        if name in ("gamma", "precondition"):
            assert action.default is None and "the learning run's" in action.help
        else:
            assert action.default == default, name
    sections = help_sections(parsers["sample"].format_help())
    assert {"--gamma", "--sampler", "--mala-energy"} <= sections[GROUP_TITLES["sampler"]]
    assert "--seed" in sections[GROUP_TITLES["run"]] and "--remat" in sections[GROUP_TITLES["network"]]
