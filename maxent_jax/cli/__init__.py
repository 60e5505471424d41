"""The ``maxent-jax`` command line: one module per sub-command.

Each sub-command module exposes ``add_parser(subparsers) -> None`` which registers
its parser and sets ``func`` to a ``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = ("gaussian", "features", "convert_weights", "synthesize", "sample", "style", "inpaint")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="maxent-jax",
        description="Exemplar-based texture synthesis with maximum-entropy models.",
        epilog="Compiled programs are cached in $MAXENT_JAX_COMPILE_CACHE (default: the 'xla' "
               "folder of $MAXENT_JAX_CACHE, ~/.cache/maxent-jax); "
               "MAXENT_JAX_COMPILE_CACHE=off disables it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"maxent_jax.cli.{name}")
        except ModuleNotFoundError as err:  # sub-command not written yet
            if err.name == f"maxent_jax.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``maxent-jax`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from maxent_jax.cli._common import enable_compile_cache
    enable_compile_cache()
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as err:
        print(f"maxent-jax {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"maxent-jax {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, unless MAXENT_JAX_DEBUG asks for the traceback
        if os.environ.get("MAXENT_JAX_DEBUG"):
            raise
        print(f"maxent-jax {args.command}: internal error: {type(err).__name__}: "
              f"{_one_line(err)} (please report it; MAXENT_JAX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    """The first line of an error's message (JAX errors append long explanations)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
