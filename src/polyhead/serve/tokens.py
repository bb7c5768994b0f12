"""Token counts per text, taken before a request is queued (the per-request limit and the
batcher's per-call budget are in tokens: characters say little about model work)."""

from __future__ import annotations

from tokenizers import Tokenizer

# Texts are tokenized in groups of about this many characters, so a request far over the limit
# is refused after counting little more than the limit, not all of it.
GROUP_CHARS = 32_768


class TokenCounter:
    """Counts with a private copy of the model's tokenizer (Rust `tokenizers`, no truncation or
    padding): the model's own tokenizer belongs to the model thread, and the HF wrapper
    changes its truncation state on every call, so sharing it between threads is unsafe."""

    def __init__(self, hf_tokenizer):
        self.tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def count(self, texts: list[str], limit: int | None = None) -> list[int]:
        """Tokens per text, special tokens included (what a one-window text costs the model).

        With `limit`, counting stops at the first group that takes the total past it: the list
        is then shorter than `texts` and sums to more than `limit`.
        """
        counts: list[int] = []
        start = 0
        while start < len(texts):
            end, chars = start, 0
            while end < len(texts) and (end == start or chars + len(texts[end]) <= GROUP_CHARS):
                chars += len(texts[end])
                end += 1
            encodings = self.tokenizer.encode_batch(texts[start:end])
            counts += [len(e.ids) for e in encodings]
            if limit is not None and sum(counts) > limit:
                break
            start = end
        return counts
