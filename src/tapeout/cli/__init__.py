"""Command-line interface: `tapeout COMMAND`. Commands live in one module per area and
register on the shared typer app; bad input becomes one line on stderr and exit code 2."""

from __future__ import annotations

import importlib
import sys

from .app import app

# modules that register commands on `app`; a module that is absent (optional area) is skipped
COMMAND_MODULES = (
    "catalog_cmds",
    "llm_cmds",
    "validate_cmds",
    "train_cmds",
    "econ_cmds",
    "workload_cmds",
    "quant_cmds",
    "explore_cmds",
    "study_cmds",
)


def _load_commands() -> None:
    for mod in COMMAND_MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise


def main(argv: list[str] | None = None) -> None:
    from ..errors import TapeoutError, exit_with

    _load_commands()
    try:
        import typer.main

        from .checks import harden

        cmd = typer.main.get_command(app)
        harden(cmd)
        cmd.main(args=argv, prog_name="tapeout", standalone_mode=False)
    except TapeoutError as e:
        exit_with(e)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors (typer may vendor its own click)
        name = type(e).__name__
        if name == "Abort":
            sys.exit(130)
        if name == "NoArgsIsHelpError":  # bare `tapeout`: help was printed
            sys.exit(0)
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # ClickException family
            msg = e.format_message() if hasattr(e, "format_message") else str(e)
            print("error: " + " ".join(msg.split()) + " (see `tapeout --help`)", file=sys.stderr)
            sys.exit(2)
        raise
