"""polyhead embed."""

from __future__ import annotations

from pathlib import Path

import typer

from polyhead.cli.app import app, console, read_lines


@app.command()
def embed(
    model: str = typer.Argument(..., help="Artifact dir, HF model folder or Hub id, or 'minilm'."),
    source: str = typer.Argument("-", help="Text file (one sentence per line) or '-' for stdin."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the (N, H) float32 .npy."),
    batch_size: int = typer.Option(64, min=1),
    revision: str = typer.Option(None, "--revision", help="With a Hub id: branch, tag, commit."),
):
    """Sentence embeddings for every line of SOURCE."""
    import numpy as np

    from polyhead.api import load
    from polyhead.predict import encode

    texts = read_lines(source)
    vectors = encode(load(model, revision).module, texts, batch_size=batch_size, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, vectors)
    console.print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}")
