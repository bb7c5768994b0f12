"""The `polyhead` command: each command parses arguments and hands off to one library call.

In every command module, library imports sit inside the commands on purpose: `polyhead
--help`, and a bad config or data file, answer before torch and transformers load (seconds).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from polyhead.errors import PolyheadError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
_STATE = {"debug": False}
VERIFY_HELP = "Check each artifact file against the sha256 in polyhead.json (--no-verify: skip)."


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", help="Also show Lightning's own messages."),
):
    _STATE["debug"] = debug
    if verbose:  # read by polyhead.engine.trainer (and inherited by worker processes)
        os.environ["POLYHEAD_VERBOSE"] = "1"


def read_lines(source: str) -> list[str]:
    return [line for chunk in line_chunks(source, 10_000) for line in chunk]


def line_chunks(source: str, size: int):
    """The lines of a file (or stdin for '-') in lists of `size`, read as they are needed, so
    a large input is never held whole."""
    if source != "-" and not Path(source).exists():
        raise PolyheadError(f"{source}: file not found")
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    try:
        chunk = []
        for line in stream:
            chunk.append(line.rstrip("\r\n"))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        if stream is not sys.stdin:
            stream.close()


def setup_logging() -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    # Lightning's own loggers are tamed where its Trainer is built (engine.trainer).


def load_cli_config(path: Path, overrides: list[str] | None):
    from polyhead.config import load_config

    return load_config(path, overrides or [])


def error_line(exc: BaseException) -> tuple[str, int] | None:
    """The one line (and exit code) a user sees for an error, or None for a bug.

    Bad input (PolyheadError and its DataError / ConfigError), a pydantic validation error
    that escaped a config, and the OS refusing a file (missing, unwritable, a folder) are the
    user's to fix; anything else is ours and keeps its traceback.
    """
    from pydantic import ValidationError

    if isinstance(exc, PolyheadError):
        return f"error: {exc}", getattr(exc, "exit_code", 2)
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or exc.title
        return f"error: {exc.title} field '{field}': {err['msg']}", 2
    if isinstance(exc, OSError) and (exc.filename or exc.strerror):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{exc.strerror or exc}", 2
    return None


def _click_classes(name: str) -> tuple[type, ...]:
    """`name` from click and from the copy of click that typer >= 0.29 bundles (its commands
    raise the bundled classes, which click's own do not catch)."""
    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2 (130 for Ctrl-C);
    `polyhead --debug ...` shows the traceback instead."""
    argv = sys.argv[1:]
    try:
        app(args=argv, standalone_mode=False)
    except (typer.Exit, SystemExit) as e:
        sys.exit(getattr(e, "exit_code", getattr(e, "code", 0)))
    except Exception as e:
        if isinstance(e, _click_classes("ClickException")):  # usage errors
            e.show()
            sys.exit(2)
        if isinstance(e, _click_classes("Abort")):
            sys.exit(130)
        shown = error_line(e)
        if shown is None or "--debug" in argv:
            raise
        print(shown[0], file=sys.stderr)
        sys.exit(shown[1])


if __name__ == "__main__":
    main()
