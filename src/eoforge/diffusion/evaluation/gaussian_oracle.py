"""An exact denoiser for periodic stationary Gaussian images: a sampler check without training."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from eoforge.core.errors import bad_value
from eoforge.diffusion.schedules import NoiseSchedule


class StationaryGaussianDenoiser:
    """Exact eps-prediction for periodic stationary Gaussian images ``x_0 ~ N(mu, C)``.

    ``C`` is diagonal in the unitary 2-D Fourier basis with per-frequency variances ``s2(k)``
    (``spectrum``). Under ``x_t = sqrt(a) x_0 + sqrt(1-a) eps`` the MMSE noise prediction is

        eps*(x_t, t) = sqrt(1 - a) F^-1[ F(x_t - sqrt(a) mu) / (a s2(k) + 1 - a) ],  a = abar_t,

    so every correct sampler must reproduce the data distribution (mean, spectrum).

    Args:
        schedule: The trained schedule whose indices ``t`` the model receives.
        spectrum: ``(H, W)`` per-frequency variances ``s2 >= 0`` (unitary FFT convention;
            white noise of variance v has ``s2 = v``).
        mean: Constant mean ``mu`` of every pixel.
    """

    def __init__(self, schedule: NoiseSchedule, spectrum: np.ndarray, mean: float = 0.0) -> None:
        s2 = np.asarray(spectrum, dtype=np.float64)
        if s2.ndim != 2 or np.any(s2 < 0) or not np.all(np.isfinite(s2)):
            raise bad_value("spectrum", f"array of shape {s2.shape}", "an (H, W) array >= 0")
        self.abar = schedule.alphas_cumprod
        self.spectrum = torch.from_numpy(s2)
        self.mean = float(mean)

    @classmethod
    def powerlaw(
        cls,
        schedule: NoiseSchedule,
        size: int,
        *,
        beta: float = 8.0 / 3.0,
        texture_var: float = 0.6,
        white_var: float = 0.4,
        mean: float = 0.0,
    ) -> StationaryGaussianDenoiser:
        """The oracle of the spectrum ``white_var + c |k|^-beta``: speckle-like white plus texture.

        ``c`` makes the power-law part's variance ``texture_var``.
        """
        k = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
        law = np.zeros_like(k)
        law[k > 0] = k[k > 0] ** -beta
        law *= texture_var / law.mean()
        return cls(schedule, white_var + law, mean)

    def sample_data(self, n: int, random_state: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` exact draws ``(n, 1, H, W)`` from the data distribution."""
        rng = np.random.default_rng(random_state)
        h, w = self.spectrum.shape
        white = rng.standard_normal((n, h, w))
        f = np.fft.fft2(white, norm="ortho") * np.sqrt(self.spectrum.numpy())
        return (self.mean + np.fft.ifft2(f, norm="ortho").real)[:, None]

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **_: Any) -> torch.Tensor:
        """The exact noise prediction ``E[eps | x_t]`` (B, C, H, W), in ``x``'s dtype and device."""
        a = self.abar[t.cpu()].reshape(-1, 1, 1, 1)  # (B, 1, 1, 1) float64
        xd = x.to(torch.float64).cpu() - a.sqrt() * self.mean  # (B, C, H, W)
        f = torch.fft.fft2(xd, norm="ortho") / (a * self.spectrum + 1.0 - a)
        eps = (1.0 - a).sqrt() * torch.fft.ifft2(f, norm="ortho").real
        return eps.to(device=x.device, dtype=x.dtype)
