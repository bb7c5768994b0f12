import subprocess
import sys

import numpy as np


def _run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "polyhead.cli", *args], input=stdin, capture_output=True, text=True
    )


def test_embed_stdin_to_npy(tiny_bert, tmp_path):
    out = tmp_path / "e.npy"
    res = _run("embed", str(tiny_bert), "-", "--out", str(out), stdin="hello\nworld\n\n")
    assert res.returncode == 0, res.stderr
    arr = np.load(out)
    assert arr.shape == (3, 32) and arr.dtype == np.float32


def test_embed_missing_file_is_one_line_exit_2(tiny_bert, tmp_path):
    res = _run("embed", str(tiny_bert), str(tmp_path / "nope.txt"), "--out", str(tmp_path / "e"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.txt'}: file not found"]
