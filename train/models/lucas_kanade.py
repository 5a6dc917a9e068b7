"""Lucas-Kanade optical flow of every frame of a clip against its first frame, as a layer.

Why a recogniser reads flow instead of frame differences: a difference image of a small
movement ``d`` is about ``-grad(I) . d``, so what it shows is the movement WEIGHTED BY
THE FACE'S TEXTURE (its edges, wrinkles, lighting). With a dozen training faces a network
learns those faces' textures; flow divides the texture back out and leaves the movement in
pixels, which is what an action unit is (brows up, lip corners up-and-out). This is why
the micro-expression literature feeds flow (OFF-ApexNet, STSTNet); here it is computed
inside the model from fixed kernels, so it exports to ONNX with the rest and the runtime
needs no flow code and no preparation change (the model takes the raw normalised frames,
``preparation.reference: none``).

Per pixel, with ``I0`` the first frame (contrast-normalised per clip, lightly smoothed),
``Ix, Iy`` its gradients and ``It = I_t - I0``, the flow ``(u, v)`` solves the 2x2 system
``[Sxx + r, Sxy; Sxy, Syy + r] (u, v) = -(Sxt, Syt)`` where ``S..`` are Gaussian-window
sums of the gradient products and ``r`` a ridge that sends flow to 0 where the face has
no texture to read it from (smooth skin). Then per frame the face's mean flow is taken
away (what is left of head motion after alignment) and the flow is soft-limited to
``limit_px`` (speech and blinks move far more than an ME; their size carries no class).

Input ``(N, 1, T, H, W)``; output ``(N, 2, T, H, W)``: ``u`` (right +) and ``v`` (down +)
in pixels of the input. Linear in sub-pixel shifts (the regime of 1-3 px AUs on a 128 px
face = 0.5-1.5 px at 64 px).

Example:
    >>> import torch
    >>> flow = LucasKanadeMotion()(torch.zeros(1, 1, 4, 32, 32))
    >>> tuple(flow.shape)
    (1, 2, 4, 32, 32)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian(sigma: float) -> torch.Tensor:
    half = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-half, half + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


class LucasKanadeMotion(nn.Module):
    """Args: ``presmooth_sigma`` of the Gaussian blur on every frame (noise), ``window_sigma``
    of the Gaussian window the 2x2 systems sum over, ``ridge`` added to their diagonal (in
    units of the contrast-normalised gradient squared), ``limit_px`` of the soft limit."""

    def __init__(self, presmooth_sigma: float = 1.0, window_sigma: float = 2.0,
                 ridge: float = 1e-3, limit_px: float = 3.0):
        super().__init__()
        self.ridge = ridge
        self.limit_px = limit_px
        for name, sigma in (("pre", presmooth_sigma), ("win", window_sigma)):
            g = _gaussian(sigma)
            self.register_buffer(f"{name}_x", g.view(1, 1, 1, 1, -1), persistent=False)
            self.register_buffer(f"{name}_y", g.view(1, 1, 1, -1, 1), persistent=False)
        d = torch.tensor([-0.5, 0.0, 0.5])
        self.register_buffer("dx", d.view(1, 1, 1, 1, 3), persistent=False)
        self.register_buffer("dy", d.view(1, 1, 1, 3, 1), persistent=False)

    @staticmethod
    def _conv(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # Separable kernels, edges replicated (a zero border would read as a strong edge).
        ph, pw = (k.shape[3] - 1) // 2, (k.shape[4] - 1) // 2
        x = F.pad(x, (pw, pw, ph, ph, 0, 0), mode="replicate")
        return F.conv3d(x, k)

    def _smooth(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        return self._conv(self._conv(x, getattr(self, f"{prefix}_x")),
                          getattr(self, f"{prefix}_y"))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # Contrast normalised per clip by its first frame: a face's brightness and the
        # camera's gain do not change the flow (nor the ridge's meaning).
        first = frames[:, :, :1]
        mean = first.mean(dim=(2, 3, 4), keepdim=True)
        std = (first - mean).pow(2).mean(dim=(2, 3, 4), keepdim=True).sqrt()
        x = self._smooth((frames - mean) / (std + 1e-3), "pre")
        i0 = x[:, :, :1]
        ix, iy = self._conv(i0, self.dx), self._conv(i0, self.dy)
        it = x - i0
        sxx = self._smooth(ix * ix, "win") + self.ridge
        syy = self._smooth(iy * iy, "win") + self.ridge
        sxy = self._smooth(ix * iy, "win")
        sxt = self._smooth(ix * it, "win")
        syt = self._smooth(iy * it, "win")
        det = sxx * syy - sxy * sxy
        u = (sxy * syt - syy * sxt) / det
        v = (sxy * sxt - sxx * syt) / det
        flow = torch.cat([u, v], dim=1)
        flow = flow - flow.mean(dim=(3, 4), keepdim=True)
        return self.limit_px * torch.tanh(flow / self.limit_px)
