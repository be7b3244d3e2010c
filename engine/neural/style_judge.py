"""A fixed judge of stylization results, for benchmarks only.

Chosen before any tuning and never used as a loss: it shares nothing with
the loss networks (no neural features), so optimising against a network
cannot game it. numpy + scikit-image only.

- colour distance: sliced Wasserstein-1 distance between the RGB pixel
  distributions of result and style (64 fixed directions), in [0, 1] units;
- texture distance: on luminance at 3 octaves, (a) total-variation distance
  between rotation-invariant uniform local-binary-pattern histograms (P=8,
  R=1 and R=2) and (b) mean |log ratio| of oriented gradient energies in 4
  directions; texture = mean LBP distance + 0.25 * mean energy log ratio;
- style distance = colour + texture (a result that only matches colours
  keeps the content's texture and scores badly on the second term);
- content similarity: SSIM of luminance to the content at the same size;
- lattice: how strongly a result repeats a pattern every few pixels (a
  generator's stride grid showing through), which none of the above sees;
- packing: how regularly its small marks are spaced (dots on a grid rather
  than scattered), whatever their phase.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DIRECTIONS = np.random.RandomState(1234).standard_normal((64, 3))
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)
_QUANTILES = np.linspace(0.005, 0.995, 100)
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def _rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) float in [0, 1] -> (H, W, 3) float64."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) image, got {image.shape}")
    return np.clip(image[..., :3].astype(np.float64), 0.0, 1.0)


def colour_distance(result: np.ndarray, style: np.ndarray) -> float:
    """Sliced Wasserstein-1 distance between the two images' RGB distributions."""
    a = _rgb(result).reshape(-1, 3) @ _DIRECTIONS.T
    b = _rgb(style).reshape(-1, 3) @ _DIRECTIONS.T
    qa = np.quantile(a, _QUANTILES, axis=0)
    qb = np.quantile(b, _QUANTILES, axis=0)
    return float(np.abs(qa - qb).mean())


def _octaves(luma: np.ndarray, count: int = 3) -> list[np.ndarray]:
    from skimage.transform import rescale

    levels = [luma]
    for _ in range(count - 1):
        if min(levels[-1].shape) < 32:
            break
        levels.append(rescale(levels[-1], 0.5, anti_aliasing=True))
    return levels


def _texture_stats(image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    from skimage.feature import local_binary_pattern

    luma = _rgb(image) @ _LUMA
    stats = []
    for level in _octaves(luma):
        grey = np.round(level * 255).astype(np.uint8)
        hists = []
        for radius in (1, 2):
            codes = local_binary_pattern(grey, 8, radius, method="uniform")
            hist = np.bincount(codes.astype(int).ravel(), minlength=10)[:10].astype(np.float64)
            hists.append(hist / hist.sum())
        gy, gx = np.gradient(level)
        energies = []
        for angle in (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4):
            d = gx * np.cos(angle) + gy * np.sin(angle)
            energies.append(np.sqrt(np.mean(d * d)) + 1e-4)
        stats.append((np.concatenate(hists), np.array(energies)))
    return stats


def texture_distance(result: np.ndarray, style: np.ndarray) -> float:
    """LBP histogram and oriented-gradient-energy distance over 3 octaves."""
    a, b = _texture_stats(result), _texture_stats(style)
    n = min(len(a), len(b))
    lbp = np.mean([0.5 * np.abs(a[i][0] - b[i][0]).sum() / 2 for i in range(n)])
    energy = np.mean([np.abs(np.log(a[i][1] / b[i][1])).mean() for i in range(n)])
    return float(lbp + 0.25 * energy)


def content_similarity(result: np.ndarray, content: np.ndarray) -> float:
    """SSIM of luminance; `content` is resized to `result`'s size if needed."""
    from skimage.metrics import structural_similarity
    from skimage.transform import resize

    a = _rgb(result) @ _LUMA
    b = _rgb(content) @ _LUMA
    if b.shape != a.shape:
        b = resize(b, a.shape, anti_aliasing=True)
    return float(structural_similarity(a, b, data_range=1.0))


def lattice_levels(image: np.ndarray, period: int = 4) -> float:
    """RMS over phases and channels of the mean of the pixels at each phase
    (row mod `period`, column mod `period`) about their overall mean, in 8-bit
    levels. A pattern repeating every `period` px raises it; content, which
    does not repeat, averages out (the bench's photos at 256 px: 0.2-0.5;
    Gatys results on them 0.36-0.63). The image is cropped to multiples of `period`."""
    rgb = _rgb(image)
    h, w = rgb.shape[0] // period * period, rgb.shape[1] // period * period
    cells = rgb[:h, :w].reshape(h // period, period, w // period, period, 3)
    means = cells.mean(axis=(0, 2))  # (period, period, 3)
    return round(float(np.sqrt(np.mean((means - means.mean(axis=(0, 1))) ** 2))) * 255, 2)


def packing(image: np.ndarray, near: int = 3, far: int = 12) -> float:
    """RMS of the normalised autocorrelation of the luminance's 3x3 high-pass
    (the image minus its 3x3 mean) over the lags `near`..`far` px (circular).
    Scattered marks decorrelate beyond their own size: a few hundredths (the
    pointillism source 0.012, its Gatys targets 0.016-0.023); marks on a grid
    correlate again at its period (a generator's dots on its 4-px grid:
    0.08)."""
    luma = _rgb(image) @ _LUMA
    padded = np.pad(luma, 1, mode="reflect")
    h, w = luma.shape
    box = sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9
    detail = luma - box
    detail -= detail.mean()
    spectrum = np.fft.fft2(detail)
    acf = np.real(np.fft.ifft2(spectrum * np.conj(spectrum)))
    if acf[0, 0] <= 0:
        return 0.0  # no detail at all: nothing is packed
    acf /= acf[0, 0]
    lag = np.hypot(*np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij"))
    ring = (lag >= near) & (lag <= far)
    return round(float(np.sqrt(np.mean(acf[ring] ** 2))), 4)


def judge(result: np.ndarray, style: np.ndarray, content: np.ndarray) -> dict[str, Any]:
    """All figures for one result: style distance (lower is better) and parts,
    and luminance SSIM to the content (higher keeps more content)."""
    colour = colour_distance(result, style)
    texture = texture_distance(result, style)
    return {
        "style_distance": round(colour + texture, 4),
        "colour_distance": round(colour, 4),
        "texture_distance": round(texture, 4),
        "content_ssim": round(content_similarity(result, content), 4),
    }
