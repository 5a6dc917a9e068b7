"""The stage base class: what a stage implements and what it is given.

A stage is one small module with one job (``pipeline/stages/``): it subclasses
:class:`Stage` and fills ``process`` (and, if it needs them, ``setup``,
``on_stream_end``, ``close``). :class:`~pipeline.runtime.runner.StageRunner` owns
everything else (sockets, decoding, order checks, heartbeats, acknowledgements, epochs
and watermarks, signals, counters); :mod:`pipeline.runtime.links` carries what a stage
sends. A stage that reads no socket (capture) sets ``has_input = False``, starts its
own producer threads in ``start`` and hands the runner what they made through
per-stream outboxes (:mod:`pipeline.runtime.outbox`): every stage sends through the
runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import zmq

from pipeline.config import PipelineConfig, StageSettings
from pipeline.runtime.control import identity
from pipeline.runtime.metrics import StageMetrics
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message

if TYPE_CHECKING:
    from pipeline.runtime.links import Output
    from pipeline.runtime.outbox import Outbox

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=StageSettings)


@dataclass
class StreamState:
    """What a stage knows of one incoming stream: the last seq per lane. A lane is one
    kind of message of one face track (or of the stream itself, for frames): faces,
    clips, events and track states of a face are numbered independently."""

    last_seq: dict[tuple[int | None, str], int] = field(default_factory=dict)
    ended: bool = False
    epoch: int = 0


@dataclass
class StageContext:
    """Everything a stage needs from the runtime."""

    config: PipelineConfig
    name: str
    replica: int
    zmq: zmq.Context
    metrics: StageMetrics
    stop: threading.Event
    sockets: ExitStack
    progress: dict[str, int] = field(default_factory=dict)
    output: Output | None = None
    # Per stream, the epoch this process started in (from the supervisor's go).
    epochs: dict[str, int] = field(default_factory=dict)
    # The pipeline run this process belongs to (the supervisor's MESTREAM_RUN_ID; a
    # stage run on its own makes its own).
    run_id: str = ""

    def open_socket(self, kind: int, address: str, **kwargs: Any) -> zmq.Socket:
        """A socket closed by the runtime when the stage ends."""
        return self.sockets.enter_context(open_socket(self.zmq, kind, address, **kwargs))


class Stage(Generic[SettingsT]):
    """Base class of every stage. One instance lives in one stage process.
    ``Stage[SpotSettings]``: the type of its own YAML section (``self.settings``)."""

    has_input = True

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self.log = logging.getLogger(f"mestream.{identity(ctx.name, ctx.replica)}")

    @property
    def settings(self) -> SettingsT:
        """This stage's YAML section, validated by its schema class."""
        return cast(SettingsT, self.ctx.config.stages[self.ctx.name])

    def setup(self) -> None:
        """Load models, open extra sockets. Runs before the stage reports ready."""

    def start(self, resume: dict[str, int]) -> None:
        """Called once the supervisor says go; producers start their threads here."""

    def process(self, msg: Message) -> Iterable[Message]:
        """Handle one message; return the messages to send downstream. Its buffers are
        valid during this call only: a frame may be a view on a shared-memory ring slot
        that goes back to capture afterwards, so pixels needed later are copied."""
        return ()

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        """An end-of-stream arrived; flush per-stream state. Default: pass it on."""
        return (msg,)

    def finished(self) -> bool:
        """For producers: True once every stream has ended and its end was handed on."""
        return False

    def outboxes(self) -> dict[str, Outbox]:
        """For producers: per stream, the messages ready for the runner to send."""
        return {}

    def wait_ready(self, timeout_s: float) -> None:
        """For producers: wait up to ``timeout_s`` for a message in any outbox."""

    def stop_reading(self, timeout_s: float) -> None:
        """For producers, after a stop: wait (up to ``timeout_s`` each) for the producer
        threads to queue their streams' ends."""

    def hold(self, stream: str) -> int | None:
        """The oldest source frame seq of ``stream`` whose data this stage still holds
        and may yet turn into output (a history window, a partial batch); None when it
        holds nothing. Lowers the watermarks it passes on."""
        return None

    def reset_stream(self, stream: str) -> None:
        """The stream is being re-read from an earlier frame (a new epoch): drop its
        state without emitting anything; the re-read brings back what it held."""

    def rewind(self, streams: dict[str, tuple[int, int]]) -> None:
        """For producers: re-read each stream from frame ``seq`` as epoch ``epoch``
        (``{stream: (seq, epoch)}``)."""

    def next_tick_s(self) -> float | None:
        """Seconds until :meth:`tick` is due (a batcher's oldest item reaching its
        deadline), or None when no timer is pending."""
        return None

    def tick(self) -> Iterable[Message]:
        """Timer work (e.g. flush a partial batch); called after each poll while
        :meth:`next_tick_s` is not None. Returns the messages to send downstream."""
        return ()

    def close(self) -> None:
        """Release what ``setup`` acquired (sockets are closed by the runtime)."""
