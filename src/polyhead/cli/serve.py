"""polyhead serve / export."""

from __future__ import annotations

from pathlib import Path

import typer

from polyhead.cli.app import app, console


@app.command()
def serve(
    artifact: str = typer.Argument(
        ..., help="Artifact dir or Hub id ('minilm' or a HF folder: embeddings)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, min=0, max=65535),
    onnx: bool = typer.Option(False, "--onnx", help="ARTIFACT is an ONNX export: onnxruntime."),
    batching: bool = typer.Option(True, "--batching/--no-batching", help="Micro-batching."),
    max_batch: int = typer.Option(64, min=1, help="Texts per model call."),
    max_wait_ms: float = typer.Option(5.0, min=0, help="How long a batch waits to fill up."),
    max_texts: int = typer.Option(256, min=1, help="Texts per request (more: 413)."),
    max_text_chars: int = typer.Option(20_000, min=1, help="Characters per text (more: 413)."),
    threads: int = typer.Option(None, min=1, help="CPU threads for the model (default: all)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    revision: str = typer.Option(None, "--revision", help="With a Hub id: branch, tag, commit."),
):
    """Serve /predict, /embed, /health and /metadata over HTTP (OpenAPI at /docs)."""
    from polyhead.hub import resolve_model
    from polyhead.serve.app import run_server
    from polyhead.serve.settings import ServeSettings

    settings = ServeSettings(
        host=host,
        port=port,
        batching=batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_texts=max_texts,
        max_text_chars=max_text_chars,
        threads=threads,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"warning: binding {host}: reachable from other machines, no authentication")
    run_server(resolve_model(artifact, revision), settings, onnx=onnx, access_log=access_log)


@app.command()
def export(
    artifact: str = typer.Argument(
        ..., help="A trained polyhead artifact or Hub id (or 'minilm')."
    ),
    fmt: str = typer.Option(..., "--format", help="onnx | sentence-transformers | hf"),
    out: Path = typer.Option(..., "--out", help="Folder to write (replaced if an old export)."),
    merge: bool = typer.Option(False, "--merge", help="hf: fold LoRA adapters into the backbone."),
    revision: str = typer.Option(None, "--revision", help="With a Hub id: branch, tag, commit."),
):
    """Write a portable copy of a model and check it against PyTorch."""
    from polyhead.export.formats import export_artifact
    from polyhead.hub import resolve_model

    report = export_artifact(resolve_model(artifact, revision), fmt, out, merge=merge)
    checks = {k: v for k, v in report.items() if k not in ("format", "out", "merged")}
    for name, value in checks.items():
        console.print(f"{name}: {value:.2e}")
    merged = " (adapters merged)" if report["merged"] else ""
    console.print(f"wrote {fmt} export to {out}{merged}")
