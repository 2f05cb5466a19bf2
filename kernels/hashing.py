"""Signed feature hashing of text and of short tokens, over UTF-8 bytes.

Texts arrive as one ``uint8`` buffer plus ``int64`` offsets (text ``i`` is
``buffer[offsets[i]:offsets[i + 1]]``), so a whole batch is hashed in one kernel call
with no Python work per token.

Text features are word unigrams and bigrams and character n-grams. Words are maximal
runs of ASCII letters and digits or non-ASCII bytes (so UTF-8 letters stay inside
words), lower-cased in ASCII. Character n-grams run over the same normalised stream
with every other byte run collapsed to one space. Each feature lands in one bucket of a
block ``[block_start, block_start + block_width)`` with a sign taken from the hash, so
collisions cancel on average. The word part and the character part are each scaled to
unit L2 norm, weighted, summed and the text block is scaled to unit L2 norm again, so a
long description weighs no more than a short one.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


def encode_texts(texts: list[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Pack ``texts`` as UTF-8 into one byte buffer and ``len(texts) + 1`` offsets."""
    encoded = [t.encode("utf-8", "replace") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return buffer, offsets


@njit(cache=True, nogil=True)
def _mix(h: np.uint64) -> np.uint64:
    # splitmix64 finaliser: FNV alone leaves the low bits (the bucket) poorly mixed.
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(cache=True, nogil=True)
def _fnv_start(seed: np.uint64, tag: np.uint64) -> np.uint64:
    h = np.uint64(0xCBF29CE484222325) ^ _mix(seed + tag)
    return h * np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _fnv_step(h: np.uint64, byte: np.uint8) -> np.uint64:
    return (h ^ np.uint64(byte)) * np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _bucket(h: np.uint64, width: int) -> tuple[np.int64, float]:
    m = _mix(h)
    index = np.int64(m % np.uint64(width))
    sign = 1.0 if (m >> np.uint64(63)) == np.uint64(0) else -1.0
    return index, sign


@njit(cache=True, nogil=True)
def _is_word_byte(b: np.uint8) -> bool:
    return bool(
        (b >= np.uint8(48) and b <= np.uint8(57))
        or (b >= np.uint8(65) and b <= np.uint8(90))
        or (b >= np.uint8(97) and b <= np.uint8(122))
        or b >= np.uint8(128)
    )


@njit(cache=True, nogil=True)
def _normalise(src: NDArray[np.uint8], out: NDArray[np.uint8]) -> int:
    """Lower-case ASCII and collapse non-word runs to one space; returns the length."""
    n = 0
    pending_space = False
    for b in src:
        if _is_word_byte(b):
            if pending_space and n > 0:
                out[n] = np.uint8(32)
                n += 1
            pending_space = False
            if b >= np.uint8(65) and b <= np.uint8(90):
                b = b + np.uint8(32)
            out[n] = b
            n += 1
        else:
            pending_space = True
    return n


@njit(cache=True, nogil=True)
def _add_words(
    text: NDArray[np.uint8], n: int, seed: np.uint64, word_ngrams: int, acc: NDArray[np.float64]
) -> None:
    width = acc.shape[0]
    prev = np.uint64(0)
    have_prev = False
    i = 0
    while i < n:
        h = _fnv_start(seed, np.uint64(1))
        while i < n and text[i] != np.uint8(32):
            h = _fnv_step(h, text[i])
            i += 1
        k, s = _bucket(h, width)
        acc[k] += s
        if word_ngrams >= 2 and have_prev:
            k, s = _bucket((prev * np.uint64(0x9E3779B97F4A7C15)) ^ _mix(h + np.uint64(2)), width)
            acc[k] += s
        prev = h
        have_prev = True
        i += 1  # skip the single separating space


@njit(cache=True, nogil=True)
def _add_chars(
    text: NDArray[np.uint8], n: int, seed: np.uint64, lo: int, hi: int, acc: NDArray[np.float64]
) -> None:
    width = acc.shape[0]
    for start in range(n):
        h = _fnv_start(seed, np.uint64(3))
        stop = min(n, start + hi)
        for j in range(start, stop):
            h = _fnv_step(h, text[j])
            if j - start + 1 >= lo:
                k, s = _bucket(h, width)
                acc[k] += s


@njit(cache=True, nogil=True)
def _unit(acc: NDArray[np.float64], at: NDArray[np.int64]) -> float:
    """1 / the L2 norm of ``acc``, whose non-zero entries are all at ``at`` (ascending: the
    sum is the one a pass over every entry gives, since the others add exact zeros)."""
    total = 0.0
    for k in at:
        total += acc[k] * acc[k]
    return 1.0 / np.sqrt(total) if total > 0.0 else 0.0


@njit(cache=True, nogil=True)
def hash_texts(
    buffer: NDArray[np.uint8],
    offsets: NDArray[np.int64],
    block_start: int,
    block_width: int,
    seed: int,
    word_ngrams: int,
    char_min: int,
    char_max: int,
    char_bytes: int,
    word_weight: float,
    char_weight: float,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Hash a batch of texts into a sparse unit-norm block; returns CSR arrays.

    ``word_ngrams`` is 0 (no words), 1 (unigrams) or 2 (unigrams and bigrams);
    character n-grams of ``char_min..char_max`` bytes run over the first ``char_bytes``
    normalised bytes of each text (``char_max == 0`` turns them off). Row ``i`` is
    ``indices[indptr[i]:indptr[i + 1]]`` (ascending, absolute positions starting at
    ``block_start``) with ``values`` alongside; an empty text gives an empty row.
    """
    n_items = offsets.shape[0] - 1
    useed = np.uint64(seed)
    longest = 0
    for i in range(n_items):
        longest = max(longest, offsets[i + 1] - offsets[i])
    scratch = np.empty(longest, dtype=np.uint8)
    words = np.zeros(block_width, dtype=np.float64)
    chars = np.zeros(block_width, dtype=np.float64)
    # The buckets a text's features landed in, ascending. A short title fills a few dozen
    # of the block's buckets: the sums and updates below visit only those, since a sum
    # over the whole block (a chain of dependent additions) took longer than the hashing.
    filled = np.empty(block_width, dtype=np.int64)
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    capacity = n_items * min(block_width, 64) + 16
    indices = np.empty(capacity, dtype=np.int32)
    values = np.empty(capacity, dtype=np.float64)
    nnz = 0
    for i in range(n_items):
        n = _normalise(buffer[offsets[i] : offsets[i + 1]], scratch)
        if word_ngrams > 0:
            _add_words(scratch, n, useed, word_ngrams, words)
        if char_max > 0:
            _add_chars(scratch, min(n, char_bytes), useed, char_min, char_max, chars)
        count = 0
        for k in range(block_width):
            filled[count] = k
            count += (words[k] != 0.0) | (chars[k] != 0.0)
        at = filled[:count]
        ws = word_weight * _unit(words, at)
        cs = char_weight * _unit(chars, at)
        for k in at:
            words[k] = ws * words[k] + cs * chars[k]
        scale = _unit(words, at)
        if nnz + count > capacity:
            capacity = max(2 * capacity, nnz + count)
            grown_i = np.empty(capacity, dtype=np.int32)
            grown_v = np.empty(capacity, dtype=np.float64)
            grown_i[:nnz] = indices[:nnz]
            grown_v[:nnz] = values[:nnz]
            indices = grown_i
            values = grown_v
        for k in at:
            if words[k] != 0.0:
                indices[nnz] = block_start + k
                values[nnz] = words[k] * scale
                nnz += 1
            words[k] = 0.0
            chars[k] = 0.0
        indptr[i + 1] = nnz
    return indptr, indices[:nnz].copy(), values[:nnz].copy()


@njit(cache=True, nogil=True)
def hash_tokens(
    buffer: NDArray[np.uint8], offsets: NDArray[np.int64], block_width: int, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Hash whole tokens (such as ``name=value``) to a bucket in ``[0, block_width)`` and a sign."""
    n_items = offsets.shape[0] - 1
    useed = np.uint64(seed)
    buckets = np.empty(n_items, dtype=np.int64)
    signs = np.empty(n_items, dtype=np.float64)
    for i in range(n_items):
        h = _fnv_start(useed, np.uint64(4))
        for j in range(offsets[i], offsets[i + 1]):
            h = _fnv_step(h, buffer[j])
        buckets[i], signs[i] = _bucket(h, block_width)
    return buckets, signs
