"""Procedural grey textures with natural-image statistics, for unlimited optic-flow data.

A texture is the average of two seeded layers, rescaled to [0, 1]:

- **1/f noise**: Gaussian white noise filtered to an amplitude spectrum ``1 / f**alpha``
  (``alpha = 1``: the ~1/f^2 power spectrum of natural images);
- **dead leaves**: occluding discs dropped one over another (later discs hide earlier ones),
  radii drawn from ``p(r) ~ r**-3`` between ``min_radius`` and ``max_radius`` px (the
  scale-invariant size distribution of the dead-leaves model), each with a uniform grey.
  These give the sharp occlusion edges the noise lacks.

Textures are used as photographs by :func:`flycluster.training.data.texture_flow_sequences`:
a camera flies over them with the photo movies' seeded self-motion.
"""

from __future__ import annotations

import numpy as np

from flycluster.errors import ConfigError

__all__ = ["pink_noise", "dead_leaves", "natural_texture"]


def pink_noise(shape=(1024, 1024), alpha: float = 1.0, rng=None) -> np.ndarray:
    """Zero-mean, unit-std noise (H, W) float64 with amplitude spectrum ``1 / f**alpha``."""
    rng = np.random.default_rng(rng)
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = np.inf  # no DC component
    spectrum = np.fft.rfft2(rng.standard_normal((h, w))) / f**alpha
    img = np.fft.irfft2(spectrum, s=(h, w))
    return (img - img.mean()) / img.std()


def dead_leaves(shape=(1024, 1024), n_leaves: int = 3000, min_radius: float = 4.0,
                max_radius: float = 200.0, rng=None) -> np.ndarray:
    """Dead-leaves image (H, W) float64 in [0, 1]: ``n_leaves`` occluding discs of uniform grey."""
    if not 0 < min_radius < max_radius:
        raise ConfigError(f"need 0 < min_radius < max_radius, got {min_radius}, {max_radius}")
    rng = np.random.default_rng(rng)
    h, w = shape
    img = np.full((h, w), rng.uniform(), dtype=np.float64)
    # inverse-CDF sampling of p(r) ~ r^-3 on [min_radius, max_radius]
    q = rng.uniform(size=n_leaves)
    a, b = min_radius**-2, max_radius**-2
    radii = (a - q * (a - b)) ** -0.5
    centres_r = rng.uniform(0, h, n_leaves)
    centres_c = rng.uniform(0, w, n_leaves)
    greys = rng.uniform(0, 1, n_leaves)
    for r, cr, cc, g in zip(radii, centres_r, centres_c, greys):
        r0, r1 = max(int(cr - r), 0), min(int(cr + r) + 1, h)
        c0, c1 = max(int(cc - r), 0), min(int(cc + r) + 1, w)
        if r0 >= r1 or c0 >= c1:
            continue
        yy = np.arange(r0, r1)[:, None] - cr
        xx = np.arange(c0, c1)[None, :] - cc
        img[r0:r1, c0:c1][yy**2 + xx**2 <= r * r] = g
    return img


def natural_texture(random_state: int = 0, shape=(1024, 1024), alpha: float = 1.0,
                    n_leaves: int = 3000, min_radius: float = 4.0,
                    max_radius: float = 200.0) -> np.ndarray:
    """Seeded texture (H, W) float64 in [0, 1]: mean of 1/f noise and dead leaves.

    The noise is mapped to mean 0.5, std 0.18 and clipped; the sum is rescaled to [0, 1]
    by its 0.5th and 99.5th percentiles (clipped outside).
    """
    rng = np.random.default_rng(random_state)
    noise = np.clip(0.5 + 0.18 * pink_noise(shape, alpha, rng), 0.0, 1.0)
    leaves = dead_leaves(shape, n_leaves, min_radius, max_radius, rng)
    img = 0.5 * (noise + leaves)
    lo, hi = np.percentile(img, [0.5, 99.5])
    return np.clip((img - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
