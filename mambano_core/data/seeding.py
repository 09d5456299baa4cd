"""Per-sample seeds: a sample is defined by its seed and parameters, never by its grid."""

from __future__ import annotations

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test_id", "test_ood")
# A fixed code per split so that seeds never collide across splits.
_SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}


def sample_seed(base_seed: int, benchmark: str, split: str, index: int) -> int:
    """The 63-bit seed of sample ``index`` of ``split`` of ``benchmark`` for ``base_seed``.

    Derived with :class:`numpy.random.SeedSequence` from the base seed, a hash-free code of
    the benchmark name, the split and the index, so the same inputs give the same seed on
    every machine and every resolution.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    name_code = [ord(ch) for ch in benchmark]
    seq = np.random.SeedSequence([int(base_seed), *name_code, _SPLIT_CODES[split], int(index)])
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def sample_rng(seed: int) -> np.random.Generator:
    """The random generator a benchmark draws one sample's parameters from."""
    return np.random.default_rng(np.random.SeedSequence(int(seed)))
