"""A learned lip-corner detector for the streaming spotter: a small CNN on the mouth crop
regresses how far the lip corners moved along AU12 (up and out; AU15 reads negative), and a
tiny head over that signal, ``ahead`` ticks after and ``back`` ticks before, scores the
tick as "inside a lip-corner micro-expression". Ours, not from either paper.

Why (issue 6, pipeline/spotting/README.md): the time-contrasted cell features miss every
lone AU12 / AU15 on a talking face, because speech moves the corner cells as much. Given
exact landmark positions, the corners measured AGAINST the rest of the lips separate the
two almost perfectly (speech moves the whole mouth, AU12 only the corners); MediaPipe's
mesh and Lucas-Kanade tracking on the rendered pixels do not recover that, so the
measurement is learned instead, supervised by the displacement the scene generator planted
at the corners (known exactly for synthetic scenes, zero for speech).

Input: the same ``(N, W, S, S)`` window of gray faces in [0, 1] (64 px, oldest first) as
:class:`~train.models.time_contrast.TimeContrastStreamSpotter`; only the mouth crop of the
faces ``offsets`` ticks before the newest is read.

Example:
    >>> net = MouthCornerNet()
    >>> tuple(net(torch.rand(3, 9, 64, 64)).shape)
    (3,)
    >>> c = CornerSpotter(net, back=8, ahead=10).eval()
    >>> logit, state = c.step(torch.rand(3, 9, 64, 64), torch.zeros(3, c.state_size))
    >>> tuple(logit.shape), c.state_size
    ((3,), 19)
"""

from __future__ import annotations

import torch
from torch import nn

MOUTH_ROWS = (40, 64)
MOUTH_COLS = (12, 52)
"""The mouth crop of the spotter's 64 px face (both lip corners with ~10 px to spare)."""


class MouthCornerNet(nn.Module):
    """Faces ``(N, W, 64, 64)`` -> the lip corners' movement along AU12 between the face
    ``max(offsets)`` ticks before the newest and the newest (canonical px of a 128 px face,
    both corners averaged; AU12 positive, AU15 negative).

    Channels: the crops at ``offsets`` (each minus its own mean: illumination) and the
    newest minus each older one (x4: the differences are a few gray levels)."""

    def __init__(self, size: int = 64, offsets: tuple[int, ...] = (8, 6, 4, 2, 0),
                 widths: tuple[int, ...] = (24, 32, 32, 48), hidden: int = 64):
        super().__init__()
        if size != 64:
            raise ValueError("MouthCornerNet's crop is placed for 64 px faces")
        self.size, self.offsets = size, tuple(offsets)
        self.span = max(self.offsets)
        h, w = MOUTH_ROWS[1] - MOUTH_ROWS[0], MOUTH_COLS[1] - MOUTH_COLS[0]
        c_in = 2 * len(self.offsets) - 1
        a, b, c, d = widths
        self.features = nn.Sequential(
            nn.Conv2d(c_in, a, 3, padding=1), nn.ReLU(),
            nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(b, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, d, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.regress = nn.Sequential(nn.Linear(d * (h // 4) * (w // 4), hidden), nn.ReLU(),
                                     nn.Linear(hidden, 1))

    def crops(self, window: torch.Tensor) -> torch.Tensor:
        """``(N, len(offsets), h, w)``: the mouth crops of the faces ``offsets`` ticks
        before the newest of each window (oldest first)."""
        last = window.shape[1] - 1
        return torch.stack([window[:, last - o, MOUTH_ROWS[0]:MOUTH_ROWS[1],
                                   MOUTH_COLS[0]:MOUTH_COLS[1]] for o in self.offsets], 1)

    def from_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """The movement ``(N,)`` from :meth:`crops` (what training feeds)."""
        centred = crops - crops.mean(dim=(2, 3), keepdim=True)
        x = torch.cat([centred, 4 * (crops[:, -1:] - crops[:, :-1])], 1)
        return self.regress(self.features(x)).squeeze(1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.from_crops(self.crops(window))


class CornerSpotter(nn.Module):
    """:class:`MouthCornerNet`'s per-tick movement, kept for ``back + ahead + 1`` ticks in
    the state (oldest first; zeros for a new stream, as the training pads), and a small MLP
    that scores the tick ``ahead`` ticks ago from that stretch (a lip-corner ME rises AND
    returns within 500 ms; speech and macro-expressions do not look like that)."""

    def __init__(self, net: MouthCornerNet, back: int = 8, ahead: int = 10, hidden: int = 32):
        super().__init__()
        self.net, self.back, self.ahead = net, back, ahead
        self.state_size = back + ahead + 1
        self.window = net.span + 1
        self.head = nn.Sequential(nn.Linear(self.state_size, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 16), nn.ReLU(), nn.Linear(16, 1))

    def score(self, movement: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` from stretches of movement ``(N, back + ahead + 1)``."""
        return self.head(movement).squeeze(1)

    def step(self, window: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One tick: (logit for the tick ``ahead`` ago, the new state)."""
        seq = torch.cat([state[:, 1:], self.net(window)[:, None]], 1)
        return self.score(seq), seq


class CornerFusedSpotter(nn.Module):
    """A streaming spotter (a :class:`TimeContrastStreamSpotter` or an ensemble) and a
    :class:`CornerSpotter` as one: the tick's logit is the larger of the two, the state
    the two side by side. Same ``step`` signature and attributes as the spotter, so it
    exports and runs (``pipeline.spotting.learned``) unchanged.

    Example:
        >>> from train.models.time_contrast import TimeContrastStreamSpotter
        >>> s = TimeContrastStreamSpotter(size=64, lags=(1, 2, 4, 8), delay=10)
        >>> f = CornerFusedSpotter(s, CornerSpotter(MouthCornerNet(), ahead=10)).eval()
        >>> logit, state = f.step(torch.rand(2, f.window, 64, 64), torch.zeros(2, f.state_size))
        >>> tuple(logit.shape), f.state_size == s.state_size + 19
        ((2,), True)
    """

    def __init__(self, spotter: nn.Module, corner: CornerSpotter):
        super().__init__()
        if corner.ahead != spotter.delay:
            raise ValueError(f"the corner head scores {corner.ahead} ticks back, the spotter "
                             f"{spotter.delay}: they must describe the same tick")
        if corner.window > spotter.window:
            raise ValueError(f"the corner net needs {corner.window} faces, the spotter's "
                             f"window has {spotter.window}")
        self.spotter, self.corner = spotter, corner
        for k in ("size", "window", "delay", "tick_ms", "lags", "signed_lags"):
            setattr(self, k, getattr(spotter, k))
        self.sizes = [spotter.state_size, corner.state_size]
        self.state_size = sum(self.sizes)

    def step(self, window: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_spot, s_corner = state.split(self.sizes, 1)
        a, s_spot = self.spotter.step(window, s_spot)
        b, s_corner = self.corner.step(window, s_corner)
        return torch.maximum(a, b), torch.cat([s_spot, s_corner], 1)
