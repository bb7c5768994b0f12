"""The `polyhead` command: each command parses arguments and hands off to one library call."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from polyhead.errors import PolyheadError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
_STATE = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")):
    _STATE["debug"] = debug


def _read_lines(source: str) -> list[str]:
    if source == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    path = Path(source)
    if not path.exists():
        raise PolyheadError(f"{path}: file not found")
    return path.read_text(encoding="utf-8").splitlines()


def _setup_logging() -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config(path: Path, overrides: list[str] | None):
    from polyhead.config import load_config

    return load_config(path, overrides or [])


def main() -> None:
    """Entry point: PolyheadError becomes one line on stderr and exit code 2."""
    argv = sys.argv[1:]
    try:
        app(args=argv, standalone_mode=False)
    except PolyheadError as e:
        if "--debug" in argv:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (typer.Exit, SystemExit) as e:
        sys.exit(getattr(e, "exit_code", getattr(e, "code", 0)))
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
