"""Feature hashing kernels against a pure-Python reference."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kernels.hashing import encode_texts, hash_texts, hash_tokens

M64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def ref_mix(h: int) -> int:
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def ref_hash(data: bytes, seed: int, tag: int) -> int:
    h = ((FNV_OFFSET ^ ref_mix((seed + tag) & M64)) * FNV_PRIME) & M64
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def ref_bucket(h: int, width: int) -> tuple[int, float]:
    m = ref_mix(h)
    return m % width, (1.0 if m >> 63 == 0 else -1.0)


def ref_text_block(
    text: str, width: int, seed: int, word_ngrams: int, lo: int, hi: int, char_bytes: int,
    word_weight: float, char_weight: float,
) -> np.ndarray:  # fmt: skip
    """Dense text block, computed the slow and obvious way."""
    lowered = text.encode("utf-8").lower()  # bytes.lower() touches ASCII only
    tokens = re.findall(rb"[0-9a-z\x80-\xff]+", lowered)
    words = np.zeros(width)
    hashes = [ref_hash(t, seed, 1) for t in tokens]
    for i, h in enumerate(hashes):
        if word_ngrams >= 1:
            k, s = ref_bucket(h, width)
            words[k] += s
        if word_ngrams >= 2 and i > 0:
            pair = ((hashes[i - 1] * 0x9E3779B97F4A7C15) & M64) ^ ref_mix((h + 2) & M64)
            k, s = ref_bucket(pair, width)
            words[k] += s
    chars = np.zeros(width)
    stream = b" ".join(tokens)[:char_bytes]
    if hi > 0:
        for start in range(len(stream)):
            for n in range(lo, hi + 1):
                if start + n <= len(stream):
                    k, s = ref_bucket(ref_hash(stream[start : start + n], seed, 3), width)
                    chars[k] += s

    def unit(v: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(v)
        return v / norm if norm > 0 else v

    return unit(word_weight * unit(words) + char_weight * unit(chars))


TEXTS = [
    "Fix the NullPointerException in Parser.parse()",
    "",
    "   ",
    "Add UTF-8 support: naïve café ünïcödé — 日本語のテキスト",
    "a b",
    "Refactor refactor REFACTOR the scheduler; scheduler executors lost\n\nand more words here",
]


def dense(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, dim: int) -> np.ndarray:
    out = np.zeros((len(indptr) - 1, dim))
    for i in range(len(indptr) - 1):
        out[i, indices[indptr[i] : indptr[i + 1]]] = values[indptr[i] : indptr[i + 1]]
    return out


@pytest.mark.parametrize(
    ("word_ngrams", "lo", "hi", "char_bytes", "ww", "cw"),
    [
        (2, 3, 5, 128, 1.0, 0.5),
        (1, 2, 4, 16, 1.0, 1.0),
        (0, 3, 3, 1000, 1.0, 1.0),
        (2, 3, 5, 0, 1.0, 1.0),
    ],
)
def test_hash_texts_matches_reference(
    word_ngrams: int, lo: int, hi: int, char_bytes: int, ww: float, cw: float
) -> None:
    start, width, seed = 7, 61, 12345
    buffer, offsets = encode_texts(TEXTS)
    indptr, indices, values = hash_texts(
        buffer, offsets, start, width, seed, word_ngrams, lo, hi, char_bytes, ww, cw
    )
    got = dense(indptr, indices, values, start + width)
    assert np.all(got[:, :start] == 0)
    for i, text in enumerate(TEXTS):
        want = ref_text_block(text, width, seed, word_ngrams, lo, hi, char_bytes, ww, cw)
        np.testing.assert_allclose(got[i, start:], want, atol=1e-12)
        row = indices[indptr[i] : indptr[i + 1]]
        assert np.all(np.diff(row) > 0)


def test_text_block_is_unit_norm_and_batch_equals_single() -> None:
    buffer, offsets = encode_texts(TEXTS)
    args = (10, 200, 3, 2, 3, 5, 128, 1.0, 0.5)
    batch = dense(*hash_texts(buffer, offsets, *args), 210)
    norms = np.linalg.norm(batch, axis=1)
    assert np.allclose(norms[[0, 3, 4, 5]], 1.0)
    assert norms[1] == 0 and norms[2] == 0
    for i, text in enumerate(TEXTS):
        single = dense(*hash_texts(*encode_texts([text]), *args), 210)
        np.testing.assert_array_equal(single[0], batch[i])


def test_hash_texts_grows_its_output_for_long_texts() -> None:
    texts = [" ".join(f"w{i}_{j}" for j in range(3000)) for i in range(3)]
    indptr, indices, values = hash_texts(*encode_texts(texts), 0, 512, 0, 2, 3, 5, 4096, 1.0, 1.0)
    assert indptr[-1] == len(indices) == len(values)
    assert np.all(np.diff(indptr) > 64)


def test_hash_tokens_matches_reference() -> None:
    tokens = ["team=web", "team=core", "priority=<missing>", "", "ключ=значение"]
    buckets, signs = hash_tokens(*encode_texts(tokens), 97, 5)
    for tok, b, s in zip(tokens, buckets, signs, strict=True):
        assert (b, s) == ref_bucket(ref_hash(tok.encode(), 5, 4), 97)


def test_encode_texts_offsets() -> None:
    buffer, offsets = encode_texts(["ab", "", "é"])
    assert offsets.tolist() == [0, 2, 2, 4]
    assert bytes(buffer) == "abé".encode()
    buffer, offsets = encode_texts([])
    assert offsets.tolist() == [0] and buffer.size == 0
