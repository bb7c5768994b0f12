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


@app.command()
def embed(
    model: str = typer.Argument(..., help="Artifact dir, HF model folder/name, or 'minilm'."),
    source: str = typer.Argument("-", help="Text file (one sentence per line) or '-' for stdin."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the (N, H) float32 .npy."),
    batch_size: int = typer.Option(64, min=1),
):
    """Sentence embeddings for every line of SOURCE."""
    import numpy as np

    from polyhead.model.loading import load_any

    texts = _read_lines(source)
    vectors = load_any(model).encode(texts, batch_size=batch_size, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, vectors)
    console.print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}")


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
