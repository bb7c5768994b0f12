"""polyhead serve / export."""

from __future__ import annotations

from pathlib import Path

import typer

from polyhead.cli.app import VERIFY_HELP, app, console
from polyhead.serve.settings import ServeSettings

_D = ServeSettings()  # the defaults live in one place: the settings the server validates


@app.command()
def serve(
    artifact: str = typer.Argument(
        ..., help="Artifact dir or Hub id ('minilm', a HF folder: embeddings)."
    ),
    host: str = typer.Option(_D.host, help="Interface to bind (loopback by default)."),
    port: int = typer.Option(_D.port, min=0, max=65535),
    onnx: bool = typer.Option(False, "--onnx", help="ARTIFACT is an ONNX export: onnxruntime."),
    batching: bool = typer.Option(_D.batching, "--batching/--no-batching", help="Micro-batching."),
    max_batch: int = typer.Option(_D.max_batch, min=1, help="Windows per model call."),
    max_batch_tokens: int = typer.Option(
        _D.max_batch_tokens,
        min=1,
        help="Padded tokens per model call (windows x the longest); requests and long texts "
        "are split into calls of windows that take turns, so a small request waits behind at "
        "most one call.",
    ),
    max_wait_ms: float = typer.Option(_D.max_wait_ms, min=0, help="How long a batch waits."),
    max_texts: int = typer.Option(_D.max_texts, min=1, help="Texts per request (more: 413)."),
    max_text_chars: int = typer.Option(
        _D.max_text_chars, min=1, help="Characters per text (more: 413)."
    ),
    max_tokens_per_request: int = typer.Option(
        _D.max_tokens_per_request,
        min=1,
        help="Tokens per request, [CLS]/[SEP] included, counted with the model's tokenizer "
        "before queueing (more: 413).",
    ),
    max_body_bytes: int = typer.Option(
        _D.max_body_bytes, min=1, help="Request body bytes, chunked bodies too (more: 413)."
    ),
    threads: int = typer.Option(None, min=1, help="CPU threads for the model (default: all)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help=VERIFY_HELP),
    revision: str = typer.Option(None, "--revision", help="With a Hub id: branch, tag, commit."),
):
    """Serve /predict, /embed, /health and /metadata over HTTP (OpenAPI at /docs)."""
    from polyhead.hub import resolve_model
    from polyhead.serve.app import run_server

    settings = ServeSettings(
        host=host,
        port=port,
        batching=batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_texts=max_texts,
        max_text_chars=max_text_chars,
        max_tokens_per_request=max_tokens_per_request,
        max_batch_tokens=max_batch_tokens,
        max_body_bytes=max_body_bytes,
        threads=threads,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"warning: binding {host}: reachable from other machines, no authentication")
    run_server(
        resolve_model(artifact, revision), settings, onnx=onnx, access_log=access_log, verify=verify
    )


@app.command()
def export(
    artifact: str = typer.Argument(
        ..., help="A trained polyhead artifact or Hub id (or 'minilm')."
    ),
    fmt: str = typer.Option(
        ...,
        "--format",
        help="onnx | sentence-transformers | hf | transformers (OUT/<task>/: one folder per "
        "head for transformers.pipeline)",
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write (replaced if an old export)."),
    merge: bool = typer.Option(False, "--merge", help="hf: fold LoRA adapters into the backbone."),
    emissions_only: bool = typer.Option(
        False, "--emissions-only", help="transformers: export CRF heads' emissions (no Viterbi)."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help=VERIFY_HELP),
    revision: str = typer.Option(None, "--revision", help="With a Hub id: branch, tag, commit."),
):
    """Write a portable copy of a model and check it against PyTorch."""
    from polyhead.export.formats import export_artifact
    from polyhead.hub import resolve_model

    report = export_artifact(
        resolve_model(artifact, revision),
        fmt,
        out,
        merge=merge,
        emissions_only=emissions_only,
        verify=verify,
    )
    skip = ("format", "out", "merged", "notices")
    for name, value in report.items():
        if name not in skip:
            console.print(f"{name}: {value:.2e}")
    for notice in report.get("notices", []):
        console.print(f"note: {notice}", markup=False, highlight=False, soft_wrap=True)
    merged = " (adapters merged)" if report["merged"] else ""
    console.print(f"wrote {fmt} export to {out}{merged}")
