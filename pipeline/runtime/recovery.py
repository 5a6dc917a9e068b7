"""The rules by which a restart loses nothing: epochs, watermarks and re-reads.

Every rule the runtime applies after a crash is here, each a small pure function; the
supervisor, the runner and capture call them (docs/operations.md tells the story).

- **Watermark.** Capture sends one every ``transport.watermark_every`` frames: "every
  frame of this stream before ``seq`` has been sent". Each stage passes it on lowered to
  the oldest frame it still holds (:func:`passed_watermark`); the last stage records it.
- **Epoch.** When a stage after capture crashes, capture reads each stream it handled
  again from the last stage's watermark (:func:`reread_from`) as the stream's next
  epoch. A stage meeting a newer epoch first drops the stream's state; an older
  epoch's message is stale (:func:`epoch_step`). A live stream cannot be read again: it
  only moves to the new epoch (what the crashed stage held is lost).
- **Resume.** When capture itself crashes, a file stream is read again from a little
  before the last frame it reported sent (:func:`resume_from`; downstream drops the
  duplicates by seq), a live stream carries on after it.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

# Progress value of a stream whose end the last stage has: nothing to re-read.
STREAM_ENDED = -1


class EpochStep(Enum):
    """What a stage does with a message, by its epoch against the stream's."""

    STALE = "stale"  # from before a re-read: drop it (the re-read brings it again)
    CURRENT = "current"
    NEWER = "newer"  # a re-read started: drop the stream's state, then handle it


def epoch_step(message_epoch: int, stream_epoch: int) -> EpochStep:
    if message_epoch < stream_epoch:
        return EpochStep.STALE
    if message_epoch > stream_epoch:
        return EpochStep.NEWER
    return EpochStep.CURRENT


def passed_watermark(seq: int, held: int | None) -> int:
    """The watermark a stage passes on: ``seq``, lowered to the oldest source frame it
    still holds (``held``; None when it holds nothing)."""
    return seq if held is None else min(seq, held)


def reread_from(last_stage_progress: int,
                reread: Literal["from_start", "from_watermark"]) -> int | None:
    """Where a stream is read again after a stage after capture crashed: the last
    stage's watermark (0 before the first), the first frame with ``from_start`` (every
    stage's state is then rebuilt exactly: the same events as an unkilled run), or
    None when the last stage already has the stream's end (nothing was held)."""
    if last_stage_progress == STREAM_ENDED:
        return None
    return 0 if reread == "from_start" else last_stage_progress


def resume_from(last_sent: int | None, live: bool, replay_margin: int) -> int:
    """The first seq a restarted capture sends of a stream it had sent up to
    ``last_sent`` (None: nothing). A file goes back ``replay_margin`` frames (what the
    crashed capture may have handed to ZeroMQ without its reaching the next stage); a
    live source cannot, so it carries on after ``last_sent``."""
    if last_sent is None:
        return 0
    return last_sent + 1 if live else max(0, last_sent - replay_margin)


def replay_margin(hwm: int) -> int:
    """Frames a crashed capture may have handed to ZeroMQ without their reaching the
    next stage: its send queue plus one partly written message (and one in hand)."""
    return hwm + 2


def watermark_due(seq: int, every: int) -> bool:
    """Whether a watermark follows frame ``seq`` (every frame before ``seq + 1`` was
    sent)."""
    return (seq + 1) % every == 0
