"""`polyhead export`: open an artifact once, write one format, verify it, report.

The output folder is written next to `out` under a temporary name and renamed into place, so
a failed export (including a failed parity check) never leaves a half-written folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from polyhead.errors import PolyheadError
from polyhead.export.hf import export_hf, merge_adapters
from polyhead.export.runtime import load_predictor
from polyhead.model.artifact import replace_dir

FORMATS = ("onnx", "sentence-transformers", "hf", "transformers")
# A folder holding one of these is an earlier export and may be replaced.
EXPORT_MARKERS = (
    "polyhead_onnx.json",
    "modules.json",
    "polyhead_heads.json",
    "polyhead_transformers.json",
)


def export_artifact(
    source: str,
    fmt: str,
    out: Path,
    merge: bool = False,
    emissions_only: bool = False,
    verify: bool = True,
) -> dict:
    """Returns a report: format, out, merged (adapters folded in) and the format's checks
    (`notices`: one-line caveats of the transformers format). `emissions_only`: transformers
    format, export a CRF head's emission scores (a pipeline cannot run Viterbi). `verify`:
    check the artifact's files against their recorded sha256 first."""
    if fmt not in FORMATS:
        raise PolyheadError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    _check_out(out)
    model = load_predictor(source, verify=verify).model
    # Every format but hf holds plain models: adapters are always folded in.
    merged = merge_adapters(model) if (merge or fmt != "hf") else False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        # ONNX and sentence-transformers are optional dependencies: imported when used.
        if fmt == "onnx":
            from polyhead.export.onnx import export_onnx

            meta = export_onnx(model, tmp)
            checks = {"parity_max_abs_diff": meta["parity_max_abs_diff"]}
        elif fmt == "sentence-transformers":
            from polyhead.export.sentence_transformers import export_sentence_transformers

            checks = export_sentence_transformers(model, tmp)
        elif fmt == "transformers":
            from polyhead.export.transformers import export_transformers

            checks = export_transformers(model, tmp, emissions_only=emissions_only)
        else:
            export_hf(model, tmp)
            checks = {}
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"format": fmt, "out": str(out), "merged": merged, **checks}


def _check_out(out: Path) -> None:
    if out.is_file():
        raise PolyheadError(f"{out}: is a file; --out must be a folder")
    earlier_export = any((out / m).exists() for m in EXPORT_MARKERS)
    if out.exists() and any(out.iterdir()) and not earlier_export:
        raise PolyheadError(f"{out}: exists and is not an earlier export; choose another --out")
