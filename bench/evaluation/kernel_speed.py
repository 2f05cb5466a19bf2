"""Kernel speed: reckon's kernels against plain numpy implementations, in the same run.

Measures (1) one estimate against a 10,000-item history, (2) one online update at that
size and (3) feature hashing throughput, and reports each as a speed-up ratio
(numpy time / reckon time), plus the size of the estimator's snapshot. Run
``python -m bench.evaluation.kernel_speed [--items N]``; set ``NUMBA_NUM_THREADS=1`` on a
shared machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import msgpack
import numpy as np

from kernels import Estimator, EstimatorConfig
from kernels.hashing import encode_texts, hash_texts


def synthetic_items(n: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Titles, descriptions (Zipf-distributed words) and log-normal efforts."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(5000)]
    ranks = np.minimum(rng.zipf(1.3, size=(n, 80)), 5000) - 1
    lengths = rng.integers(5, 80, size=n)
    titles = [" ".join(vocab[r] for r in ranks[i, :6]) for i in range(n)]
    descs = [" ".join(vocab[r] for r in ranks[i, 6 : lengths[i]]) for i in range(n)]
    return titles, descs, np.exp(rng.normal(1.0, 0.8, size=n))


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def dense_rows(est: Estimator, titles: list[str], descs: list[str]) -> np.ndarray:
    """The estimator's feature vectors of items, as a dense float32 matrix."""
    rows = est._features.transform(titles, descs, [{} for _ in titles], learn=False)
    out = np.zeros((len(titles), est.config.dim), dtype=np.float32)
    for i in range(len(titles)):
        idx, val = rows.row(i)
        out[i, idx] = val
    return out


def numpy_estimate(
    x: np.ndarray, mean: np.ndarray, cov: np.ndarray, stored: np.ndarray, norms: np.ndarray, k: int
) -> tuple[float, float, np.ndarray]:
    """Plain numpy: linear predictive moments and brute-force cosine top-k."""
    loc = float(x @ mean)
    quad = float(x @ cov @ x)
    sims = (stored @ x[1:]) / (norms * np.linalg.norm(x[1:]) + 1e-30)
    top = np.argpartition(-sims, k)[:k]
    return loc, quad, top[np.argsort(-sims[top])]


def numpy_update(cov: np.ndarray, mean: np.ndarray, x: np.ndarray, y: float) -> None:
    """Plain numpy Sherman-Morrison update of the posterior, in place."""
    u = cov @ x
    denom = 1.0 + x @ u
    mean += u * ((y - x @ mean) / denom)
    cov -= np.outer(u, u) / denom


def python_hash(texts: list[str], est: Estimator) -> list[dict[int, float]]:
    """The word part of the text hashing in plain Python/numpy (the reference)."""
    out = []
    mask = (1 << 64) - 1
    width = est.config.dim - est.config.text_start
    for t in texts:
        acc: dict[int, float] = {}
        for word in t.lower().split():
            h = 0xCBF29CE484222325
            for b in word.encode():
                h = ((h ^ b) * 0x100000001B3) & mask
            acc[h % width] = acc.get(h % width, 0.0) + (1.0 if h >> 63 == 0 else -1.0)
        norm = np.sqrt(sum(v * v for v in acc.values())) or 1.0
        out.append({k: v / norm for k, v in acc.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation.kernel_speed")
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args(argv)
    n = args.items
    titles, descs, efforts = synthetic_items(n + 200, seed=0)
    est = Estimator(EstimatorConfig())
    start = time.perf_counter()
    est.learn_many([f"T-{i}" for i in range(n)], titles[:n], descs[:n],
                   [{} for _ in range(n)], efforts[:n])  # fmt: skip
    print(f"learned {n} items in {time.perf_counter() - start:.1f} s")

    q = np.array([0.1, 0.5, 0.9])
    t_reckon = best_time(lambda: est.predict(titles[n], descs[n], {}, q), 50)
    stored = dense_rows(est, titles[:n], descs[:n])[:, 1:]
    norms = np.linalg.norm(stored, axis=1)
    x = dense_rows(est, [titles[n]], [descs[n]])[0].astype(np.float64)
    mean, cov = est._model.mean_, est._model.cov_
    t_numpy = best_time(lambda: numpy_estimate(x, mean, cov, stored, norms, 10), 20)
    print(f"estimate @ {n} history: reckon {t_reckon * 1e3:.3f} ms, numpy {t_numpy * 1e3:.3f} ms, "
          f"ratio {t_numpy / t_reckon:.1f}x")  # fmt: skip

    counter = iter(range(10**9))

    def reckon_update() -> None:
        i = next(counter)
        est.learn(f"U-{i}", titles[n + 1 + i % 150], descs[n + 1 + i % 150], {}, 2.0)

    t_update = best_time(reckon_update, 30)
    cov_copy, mean_copy = cov.copy(), mean.copy()
    t_np_update = best_time(lambda: numpy_update(cov_copy, mean_copy, x, 0.7), 10)
    print(f"online update @ {n}: reckon {t_update * 1e3:.3f} ms, numpy {t_np_update * 1e3:.3f} ms, "
          f"ratio {t_np_update / t_update:.1f}x")  # fmt: skip

    cfg = est.config
    sample = [f"{a}\n{b}" for a, b in zip(titles[:2000], descs[:2000], strict=True)]

    def reckon_hash() -> None:
        buffer, offsets = encode_texts(sample)
        hash_texts(buffer, offsets, cfg.text_start, cfg.dim - cfg.text_start, cfg.hash_seed,
                   cfg.word_ngrams, cfg.char_ngram_min, cfg.char_ngram_max,
                   cfg.char_ngram_bytes, cfg.word_weight, cfg.char_weight)  # fmt: skip

    t_hash = best_time(reckon_hash, 5) / len(sample)
    t_py = best_time(lambda: python_hash(sample[:200], est), 3) / 200
    print(
        f"feature hashing: reckon {1 / t_hash:,.0f} items/s (words, bigrams and char n-grams), "
        f"python/numpy {1 / t_py:,.0f} items/s (words only), ratio {t_py / t_hash:.1f}x"
    )

    state = est.to_state()
    packed = msgpack.packb(state, default=lambda o: o.tobytes() if isinstance(o, np.ndarray) else o)
    print(f"snapshot @ {est.n_observations} items: {len(packed) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
