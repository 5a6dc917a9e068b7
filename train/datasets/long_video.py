"""The expressions of a long video grouped back into that video (for spotting)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from train.datasets.frames import natural_key
from train.datasets.sample import Sample


@dataclass(frozen=True)
class LongVideo:
    """One long video of CAS(ME)^2 / SAMM-LV and every expression annotated in it.

    A spotter runs over ``frames`` and is scored against ``expressions`` (their onset /
    offset are indices into ``frames``).
    """

    dataset: str
    subject: str
    video: str
    frames: tuple[Path, ...]
    fps: float
    expressions: tuple[Sample, ...]   # by onset


def long_videos(samples: Iterable[Sample]) -> list[LongVideo]:
    """Group samples by ``(dataset, subject, video)``, in natural order of the names.

    Example:
        >>> frames = tuple(Path(f"img{n:03d}.jpg") for n in range(1, 31))
        >>> def s(clip, onset):
        ...     return Sample(dataset="casme_sq", subject="s15", clip=clip,
        ...                   video="15_0401girlcrashing", frames=frames, onset=onset,
        ...                   apex=None, offset=onset + 5, label="negative", aus="4",
        ...                   kind="macro", fps=30.0, first_frame_number=1)
        >>> (v,) = long_videos([s("anger1_2", 20), s("anger1_1", 3)])
        >>> v.video, len(v.frames), [e.clip for e in v.expressions]
        ('15_0401girlcrashing', 30, ['anger1_1', 'anger1_2'])
    """
    groups: dict[tuple[str, str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.dataset, sample.subject, sample.video), []).append(sample)
    videos = []
    for (dataset, subject, video), members in sorted(
            groups.items(), key=lambda kv: tuple(natural_key(k) for k in kv[0])):
        first = members[0]
        if any(m.frames != first.frames or m.fps != first.fps for m in members):
            raise ValueError(f"{dataset} {subject}/{video}: its expressions disagree on the "
                             "video's frames or fps")
        videos.append(LongVideo(dataset, subject, video, first.frames, first.fps,
                                tuple(sorted(members, key=lambda m: (m.onset, m.offset)))))
    return videos
