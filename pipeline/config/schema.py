"""The pipeline YAML's schema: one pydantic class per YAML node, and the checks that
need the whole pipeline (addresses, CURVE off loopback, the stages' wiring).

Why one module over 400 lines: a user reads the YAML's schema as one document (one class
per node, in YAML order); the wiring rules are in ``topology`` and loading in ``loader``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pipeline.config.topology import Topology

STREAM_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
STAGE_NAME = r"^[a-z][a-z0-9_]{0,31}$"
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "udp", "tcp", "http", "https", "srt", "rtp")


class Node(BaseModel):
    """Base of every YAML node: unknown keys are errors, values are not coerced
    silently from the wrong type (a string is not a bool)."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class Reconnect(Node):
    """How a live source that fails is reopened: exponential backoff."""

    initial_s: float = Field(0.5, gt=0, description="first wait before reopening")
    max_s: float = Field(10.0, gt=0, description="longest wait between attempts")
    max_attempts: int | None = Field(
        None, ge=1, description="give the stream up (end-of-stream) after this many "
        "consecutive failures; null = never")


class FileSource(Node):
    """A video file (mp4, avi, mpg, mkv, ...) read through OpenCV's FFmpeg backend.

    ```yaml
    sources:
      s1: {type: file, path: media/clip.mpg, realtime: true}
    ```
    """

    type: Literal["file"]
    path: Path = Field(description="video file; relative paths start at the YAML's folder")
    realtime: bool = Field(True, description="pace frames by pts as a camera would")
    loop: bool = Field(False, description="start again at the end (pts keep increasing)")
    fps: float | None = Field(None, gt=0, description="override the container's frame rate")


class ImageFolderSource(Node):
    """A folder of frame images, ordered by the number in their names (natural sort),
    as CASME II, SAMM and SMIC store clips."""

    type: Literal["images"]
    path: Path = Field(description="folder of images; relative to the YAML's folder")
    fps: float = Field(gt=0, description="frame rate of the sequence (folders carry none)")
    glob: str = Field("*", description="which files to take")
    realtime: bool = Field(False, description="pace frames by pts")
    loop: bool = False


class CameraSource(Node):
    """A local camera (V4L2 device index or path). A live source: under load the
    oldest frames are dropped and counted."""

    type: Literal["camera"]
    device: int | str = Field(description="device index (0) or path (/dev/video0)")
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    fps: float | None = Field(None, gt=0)
    queue: int = Field(4, ge=1, le=1024, description="frames kept before the oldest drop")
    reconnect: Reconnect = Reconnect()


class NetworkSource(Node):
    """A network stream (rtsp, udp, http, ...) through OpenCV's FFmpeg backend; live:
    drops the oldest under load, reopens with backoff when the stream dies."""

    type: Literal["network"]
    url: str = Field(description="e.g. rtsp://cam/stream, udp://127.0.0.1:5000")
    queue: int = Field(4, ge=1, le=1024)
    open_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(5.0, gt=0)
    reconnect: Reconnect = Reconnect()

    @model_validator(mode="after")
    def _scheme(self) -> NetworkSource:
        scheme = self.url.split("://", 1)[0].lower() if "://" in self.url else ""
        if scheme not in NETWORK_SCHEMES:
            raise ValueError(
                f"url {self.url!r} must start with one of "
                + ", ".join(s + "://" for s in NETWORK_SCHEMES)
            )
        return self


class GStreamerSource(Node):
    """Frames from a GStreamer pipeline description (``gst-launch-1.0`` syntax), through
    Debian's GStreamer and PyGObject (``make system-deps``). It may end in an ``appsink``
    giving BGR or GRAY8; otherwise ``videoconvert ! video/x-raw,format=BGR ! appsink`` is
    appended.
    ```yaml
    sources:
      lab: {type: gstreamer, pipeline: "rtspsrc location=rtsp://cam/1 ! decodebin", live: true}
      test: {type: gstreamer, pipeline: "videotestsrc num-buffers=300 ! video/x-raw,width=640"}
    ```
    """

    type: Literal["gstreamer"]
    pipeline: str = Field(min_length=1, description="the pipeline description")
    live: bool = Field(False, description="a camera or network stream: the oldest frames "
                       "drop under load, the pipeline is rebuilt when it fails; false: "
                       "every frame, end of stream at EOS")
    fps: float | None = Field(None, gt=0, description="for pts where buffers carry none "
                              "(default: the caps' framerate)")
    realtime: bool = Field(False, description="pace frames by pts (a file played as a "
                           "camera; live pipelines pace themselves)")
    queue: int = Field(4, ge=1, le=1024, description="live: frames kept before the "
                       "oldest drops")
    reconnect: Reconnect = Reconnect()


class TestPatternSource(Node):
    """A generated moving pattern with the frame number drawn in; like GStreamer's
    videotestsrc. Needs no file; used by the demo, tests and benchmarks."""

    __test__ = False  # not a pytest class despite the name
    type: Literal["testpattern"]
    width: int = Field(640, ge=64, le=8192)
    height: int = Field(480, ge=16, le=8192)
    fps: float = Field(30.0, gt=0)
    frames: int | None = Field(None, ge=1, description="null = endless")
    realtime: bool = True


class PythonSource(Node):
    """Any frame source written in Python: ``factory`` is ``module:callable`` taking
    ``(stream_id, **options)`` and returning a :class:`pipeline.sources.Source`."""

    type: Literal["python"]
    factory: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    options: dict[str, Any] = Field(default_factory=dict)
    realtime: bool = Field(True, description="pace by pts (for sources that are not live)")
    queue: int = Field(4, ge=1, le=1024, description="for live sources: frames kept "
                       "before the oldest drops")
    reconnect: Reconnect = Reconnect()


class SyntheticSource(Node):
    """Synthetic micro-expressions on real faces, generated live with exact ground truth
    (``pipeline.synth``): the demo's camera. Everything it shows is synthetic."""

    type: Literal["synthetic"]
    seed: int = Field(0, ge=0, description="same seed, same frames")
    fps: float = Field(30.0, gt=0, le=1000)
    width: int = Field(640, ge=64, le=8192)
    height: int = Field(480, ge=64, le=8192)
    seconds: float | None = Field(None, gt=0, description="null = endless")
    faces: list[Path] = Field(default_factory=list, description="base face images, videos "
                              "or folders (default: the bundled astronaut and GRID clip)")
    label_set: Literal["megc3", "casme_sq3", "casme2"] = "megc3"
    events_per_minute: float = Field(6.0, ge=0, le=600)
    micro_fraction: float = Field(0.7, ge=0, le=1, description="share of micro (vs macro) "
                                  "expressions")
    noise_sigma: float = Field(2.0, ge=0, le=50, description="sensor noise, grey levels")
    deformation: Literal["rbf", "muscle"] = Field(
        "rbf", description="how expressions are planted: mestream's generator (rbf, what "
        "the bundled models trained on) or the held-out muscle model (recognition tests)")
    realtime: bool = Field(True, description="pace by pts, as a camera would")


SourceConfig = Annotated[
    FileSource | ImageFolderSource | CameraSource | NetworkSource | GStreamerSource
    | TestPatternSource | PythonSource | SyntheticSource,
    Field(discriminator="type"),
]


class StageSettings(Node):
    input: str | None = Field(None, description="upstream stage (default: the one before)")
    endpoint: str | None = Field(
        None, description="address this stage's input binds to (ipc:// or tcp://); "
        "default derived from transport")
    opencv_threads: int = Field(
        1, ge=0, le=256, description="OpenCV's thread pool in each process of this stage "
        "(capture, align, spot use OpenCV): 1, since the stage processes already share "
        "the cores; 0: OpenCV's own choice (one per core)")


class CaptureSettings(StageSettings):
    """Reads sources and sends frames downstream: one thread per source, sources
    sharded over ``replicas`` processes."""

    type: Literal["capture"]
    sources: list[str] | None = Field(None, description="source ids (default: all)")
    replicas: int = Field(1, ge=1, le=64)


class EventLogConfig(Node):
    """The publish stage's durable log (``pipeline/stages/publish/eventlog.py``): every
    record gets an ``event_seq`` and is appended here before it is published; subscribers
    replay from it (``docs/protocol.md``, "Replay")."""

    enabled: bool = Field(True, description="false: records carry no event_seq, no replay")
    dir: Path | None = Field(None, description="log folder (default: "
                             "<transport run dir>/<stage>-events); relative to the YAML")
    resume: bool = Field(False, description="false: each run writes a log of its own "
                         "(<dir>/<run id>/, event_seq from 0); true: the runs of this YAML "
                         "continue one log (<dir>/) and its event_seq")
    keep_runs: int = Field(5, ge=1, description="without resume: earlier runs' logs kept "
                           "beside the current one (the oldest are deleted)")
    fsync: Literal["always", "interval", "never"] = Field(
        "interval", description="always: fdatasync every record; interval: at most "
        "fsync_interval_ms of records at risk from a power cut; never: the kernel decides")
    fsync_interval_ms: float = Field(200.0, gt=0)
    segment_bytes: int = Field(64 << 20, ge=4096, description="start a new segment file "
                               "after this many bytes")
    retain_bytes: int | None = Field(1 << 30, ge=4096, description="delete the oldest "
                                     "segments beyond this total (null: keep all)")
    replay_bind: str | None = Field(None, description="replay ROUTER endpoint (default: "
                                    "the publish port + 1, or <bind>.replay for ipc)")


class PublishSettings(StageSettings):
    """Publishes records and events to subscribers on a PUB socket (topic = stream id,
    body JSON)."""

    type: Literal["publish"]
    bind: str = Field("tcp://127.0.0.1:5560", description="where subscribers connect")
    hwm: int = Field(10000, ge=1, description="messages queued per slow subscriber")
    wait_subscribers: int = Field(
        0, ge=0, description="hold the first frame until this many subscribers joined")
    wait_subscribers_timeout_s: float = Field(30.0, gt=0)
    event_log: EventLogConfig = EventLogConfig()


class Tracking(Node):
    """Which faces become tracks, and for how long."""

    detect_every: int = Field(5, ge=1, le=1000, description="run the face detector on "
                              "every k-th frame while fewer than max_faces faces are "
                              "tracked; landmarks track the faces in between")
    detector: Literal["short", "full"] = Field(
        "short", description="mediapipe backend: BlazeFace short range (faces within "
        "about 2 m, the faster) or full range (about 5 m: room cameras, smaller faces)")
    mesh: Literal["refined", "fast", "plain"] = Field(
        "refined", description="mediapipe backend's landmarks: refined: MediaPipe's "
        "refined 478-point mesh on every frame (what the bundled models were trained on); "
        "fast: the plain 468-point mesh (LiteRT) on every frame, anchored per face to the "
        "refined mesh every mesh_refresh_every frames (align 3.7 vs 5.4 ms a frame; the "
        "bundled spotter's F1 on fresh test scenes 0.84 vs 0.92, lab/alignment/README.md: "
        "for a spotter trained on it); plain: the 468-point mesh alone (the cheapest; "
        "read worse still by the bundled spotter)")
    mesh_refresh_every: int = Field(30, ge=1, le=10000, description="fast mesh: frames "
                                    "between a face's refined-mesh calls")
    detect_tiles: Literal["auto", "off"] | Annotated[int, Field(ge=64, le=8192)] = Field(
        "auto", description="also run the detector on overlapping square tiles: auto: "
        "squares of the short side for frames wider than 3:2 (a wide or multi-person "
        "shot); a side in pixels: tiles of that side on any frame (small faces in large "
        "frames, one detector call per tile); off: the whole frame only")
    max_faces: int = Field(4, ge=1, le=32, description="faces tracked per stream, "
                           "largest first")
    max_absence_ms: float = Field(1000.0, gt=0, description="a track not seen for this "
                                  "long ends; a face found sooner near it keeps its id")
    min_score: float = Field(0.5, ge=0, le=1, description="detection confidence")
    min_face_px: int = Field(
        48, ge=8, description="a face whose detected box is smaller (px) is not tracked: "
        "counted as dropped{reason=face_too_small} and logged: micro-expressions (1-3 px "
        "on a 128 px aligned face) fall below half a pixel there (the detector's box is "
        "brows to chin; the synthetic 320x240 scenes the models train on have 58-67 px)")
    landmark_every: int = Field(1, ge=1, le=10, description="locate landmarks on every "
                                "k-th frame only; frames in between reuse them (half the "
                                "align CPU at 2; the bundled learned spotter's F1 on its "
                                "test set 0.87 -> 0.85, lab/alignment/README.md); the "
                                "detector then runs every detect_every x k frames")


class Alignment(Node):
    """The canonical face and how its transform is stabilised over time."""

    size: int = Field(128, ge=32, le=512, description="aligned face side (64 for STCNN)")
    region_size: int = Field(32, ge=8, le=256, description="eye and mouth crop side")
    stabilise: Literal["one_euro", "hold", "none"] = Field(
        "one_euro", description="one_euro: smooth the rigid transform only; hold: keep an "
        "anchor frame's transform until hold_ms passed or the head moved max_drift_px")
    # Defaults measured at 128 px, 25 fps (pipeline/faces/alignment.py): 0.02 px transform
    # jitter on a still face with sensor noise; a 6 px head step followed in 2 frames.
    min_cutoff_hz: float = Field(0.3, gt=0, description="One-Euro cutoff at rest")
    beta: float = Field(0.3, ge=0, description="One-Euro speed coefficient")
    d_cutoff_hz: float = Field(1.0, gt=0, description="One-Euro derivative cutoff")
    hold_ms: float = Field(2000.0, gt=0, description="hold: longest time on one anchor")
    max_drift_px: float = Field(1.0, gt=0, description="hold: re-anchor when the stable "
                                "points moved this far (canonical px, mean)")


class AlignSettings(StageSettings):
    """Detects, tracks and aligns faces; emits one face message per track and frame.
    Streams are sharded over ``replicas`` worker processes (a stream always goes to the
    same worker, so its order is kept)."""

    type: Literal["align"]
    replicas: int = Field(1, ge=1, le=64)
    backend: Literal["mediapipe", "retinaface"] = Field(
        "mediapipe", description="mediapipe: BlazeFace + 478-point mesh (Apache-2.0; "
        "tracking.mesh says which); "
        "retinaface: RetinaFace-MobileNet0.25, 5 points, on ONNX Runtime (MIT)")
    tracking: Tracking = Tracking()
    alignment: Alignment = Alignment()

    @model_validator(mode="after")
    def _mediapipe_only(self) -> AlignSettings:
        """tracking.detector and tracking.mesh choose among mediapipe's models."""
        if self.backend != "mediapipe" and self.tracking.detector != "short":
            raise ValueError(f"tracking.detector: {self.tracking.detector!r} is a mediapipe "
                             f"detector; the {self.backend} backend has one detector")
        if self.backend != "mediapipe" and self.tracking.mesh != "refined":
            raise ValueError(f"tracking.mesh: {self.tracking.mesh!r} is a mediapipe mesh; "
                             f"the {self.backend} backend has its own landmarks")
        return self


class SpotSettings(StageSettings):
    """Keeps a time-based history per tracked face, spots micro-expression intervals
    online and emits them as clips (for a classifier) or events (spotting only). All
    durations are milliseconds of source time, so one config fits any frame rate."""

    type: Literal["spot"]
    replicas: int = Field(1, ge=1, le=64)
    spotter: Literal["flow", "lbp", "learned", "dense"] = Field(
        "flow", description="flow: optical flow in facial regions with head motion "
        "removed; lbp: LBP chi-square feature difference (the MEGC baseline); learned: "
        "the time-contrasted + memory network (SYNTHETIC-trained, pipeline/weights), "
        "batched across the process's tracks; dense: MicroExpSTCNN with a no-expression "
        "class scoring sliding windows (SYNTHETIC-trained, pipeline/weights)")
    model: Path | None = Field(None, description="learned and dense spotters: the ONNX "
                               "model (default: the bundled one); relative to the YAML")
    me_ms: float = Field(300.0, gt=0, le=2000, description="typical ME length the "
                         "spotter contrasts against")
    options: dict[str, Any] = Field(default_factory=dict, description="more spotter "
                                    "parameters (see pipeline/spotting)")
    history_ms: float = Field(4000.0, gt=0, le=60000, description="face history kept per "
                              "track")
    clip_frames: int = Field(18, ge=2, le=512, description="T of the clips sent on")
    clip_margin_ms: float = Field(0.0, ge=0, le=2000, description="taken before onset "
                                  "and after offset (0: the interval itself, as the "
                                  "bundled model was trained)")
    emit: Literal["auto", "clips", "events"] = Field(
        "auto", description="auto: events when the next stage publishes, clips otherwise")
    emit_tracks: bool = Field(False, description="also send each face's per-frame state "
                              "(box, landmarks, spotting score) downstream, for monitors "
                              "and annotated videos; later stages pass it on")
    track_landmarks: bool = Field(True, description="track records carry the face's "
                                  "landmarks (what an annotated video draws; 478 points "
                                  "are most of a record's size and JSON cost)")

    @field_validator("options")
    @classmethod
    def _typed_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Checked against the chosen spotter's own keywords and types (an unknown or
        mistyped option fails here, at load, not when the stage starts)."""
        spotter = info.data.get("spotter")
        if spotter is None:  # the spotter key itself was wrong: reported on its own
            return options
        from pipeline.spotting.options import check_options

        return check_options(spotter, options)

    @model_validator(mode="after")
    def _model_only_for_learned(self) -> SpotSettings:
        if self.model is not None and self.spotter != "learned":
            raise ValueError(f"model: only the learned spotter takes a model (spotter is "
                             f"{self.spotter!r})")
        return self


class ClassifySettings(StageSettings):
    """Classifies clips from every stream in dynamic batches (Triton style: a batch goes
    when ``max_batch`` clips wait or the oldest has waited ``max_delay_ms``)."""

    type: Literal["classify"]
    model: Path = Field(description="an exported model: .onnx (ONNX Runtime / TensorRT "
                        "via the engine cache), .pt2 (torch) or .plan (TensorRT)")
    backend: Literal["auto", "onnxruntime", "torch", "tensorrt"] = Field(
        "auto", description="auto: TensorRT on a GPU if installed, else torch on CUDA, "
        "else ONNX Runtime")
    max_batch: int = Field(16, ge=1, le=1024)
    max_delay_ms: float = Field(20.0, ge=0, le=10000)
    threads: int | None = Field(None, ge=1, le=256, description="ONNX Runtime intra-op "
                                "threads (default: its own choice)")


StageConfig = Annotated[
    CaptureSettings | AlignSettings | SpotSettings | ClassifySettings | PublishSettings,
    Field(discriminator="type")]


class Transport(Node):
    kind: Literal["ipc", "tcp"] = "ipc"
    ipc_dir: Path | None = Field(None, description="default: <tmp>/mestream-<uid>/<name>")
    host: str = "127.0.0.1"
    base_port: int = Field(5550, ge=1024, le=65000)
    hwm: int = Field(16, ge=1, le=100000, description="messages per socket queue")
    ack_timeout_s: float = Field(
        30.0, gt=0, description="how long a finishing stage waits for the next one to "
        "acknowledge each end-of-stream (files must not lose their tail) before giving up")
    linger_ms: int = Field(
        2000, ge=0, description="ZeroMQ LINGER: how long a closed socket keeps trying to "
        "deliver what is still queued (a backstop; delivery is confirmed by the acks)")
    frame_ring: Literal["auto", "on", "off"] = Field(
        "auto", description="capture's frames in a shared-memory ring, only their place "
        "on the socket (pipeline/runtime/frame_ring.py); auto: when the next stage is on this "
        "host (ipc or tcp loopback)")
    frame_ring_slots: int = Field(
        8, ge=2, le=1024, description="frames per stream's ring (each slot is one frame: "
        "0.9 MB at 640x480); a full ring holds capture back like the high-water mark")
    watermark_every: int = Field(
        10, ge=1, le=10000, description="capture sends a watermark every this many frames "
        "of a stream; after a middle stage restarts, file streams are re-read from the "
        "last watermark the last stage recorded (smaller: less re-read, more messages)")
    max_message_bytes: int = Field(
        64 << 20, ge=1 << 16, description="a peer that sends a stage a larger message "
        "is disconnected (a 4K BGR frame is 25 MB; frames through the shared-memory "
        "ring are not messages)")
    reread: Literal["from_start", "from_watermark"] = Field(
        "from_watermark", description="where a file-like stream is read again after a stage "
        "after capture crashed: from_start: its first frame, so every stage rebuilds its "
        "state exactly and the run publishes the unkilled run's events (costs one more "
        "pass over what was read, unpaced up to where it had got); from_watermark: the "
        "last watermark (bounded cost; state is rebuilt from history_ms of frames, so an "
        "event near the crash can come out a tick different)")


class Logging(Node):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Metrics(Node):
    prometheus_port: int | None = Field(
        None, ge=1, le=65535, description="serve /metrics here (null: off)")
    log_interval_s: float = Field(10.0, ge=0, description="periodic counter log; 0 = off")


class Supervisor(Node):
    startup_timeout_s: float = Field(60.0, gt=0)
    heartbeat_s: float = Field(1.0, gt=0)
    heartbeat_timeout_s: float = Field(10.0, gt=0)
    max_restarts: int = Field(5, ge=0, description="crashes within restart_window_s")
    restart_window_s: float = Field(60.0, gt=0)
    backoff_initial_s: float = Field(0.2, gt=0, description="wait before the first "
                                     "restart; doubled per crash in restart_window_s")
    backoff_max_s: float = Field(10.0, gt=0)
    stop_timeout_s: float = Field(10.0, gt=0)


class View(Node):
    """Live view previews (``mestream view``): each align worker sends every stream's
    frames, scaled down and JPEG-encoded, ``fps`` times a second of source time, with the
    face boxes it found in them, to ``endpoint``, where ``mestream view`` listens. Nothing
    is encoded while no view is connected."""

    endpoint: str = Field("tcp://127.0.0.1:5570", description="where `mestream view` "
                          "binds for previews (loopback or ipc: the web page is what "
                          "leaves the machine, behind its token)")
    fps: float = Field(5.0, gt=0, le=60, description="previews a second of source time "
                       "per stream")
    width: int = Field(480, ge=64, le=1920, description="preview width in pixels")
    quality: int = Field(75, ge=10, le=100, description="JPEG quality")

    @field_validator("endpoint")
    @classmethod
    def _local(cls, endpoint: str) -> str:
        if not is_loopback(endpoint):
            raise ValueError(f"{endpoint} is not on loopback: previews are not encrypted; "
                             "serve the page on another address instead (`mestream view "
                             "--host 0.0.0.0 --token ...`)")
        return endpoint


class Security(Node):
    """CURVE on every tcp socket (``pipeline/runtime/keys.py``; make the files with ``mestream
    keys DIR``). Required when any tcp endpoint is off loopback; ipc never uses it (its
    folder is private to the user)."""

    server_key: Path = Field(description="the servers' key: the .key_secret file on hosts "
                             "whose stages bind tcp endpoints; the public .key file is "
                             "enough on hosts that only connect")
    client_key: Path = Field(description="this host's client key pair (.key_secret), used "
                             "by every socket that connects")
    authorized_keys: Path | None = Field(None, description="folder of client public keys "
                                         "(.key) a bound socket admits; others are refused "
                                         "and logged. Needed where stages bind tcp")


LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")


def is_loopback(address: str) -> bool:
    """True for ipc:// and for tcp:// on a loopback address.

    >>> is_loopback("tcp://127.0.0.1:5560"), is_loopback("tcp://0.0.0.0:5560")
    (True, False)
    """
    if not address.startswith("tcp://"):
        return True
    host = address.removeprefix("tcp://").rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class PipelineConfig(Node, Topology):
    """A whole pipeline YAML."""

    version: Literal[1] = 1
    name: str = Field(pattern=STAGE_NAME.replace("_]", "_\\-]"))
    sources: dict[Annotated[str, Field(pattern=STREAM_ID)], SourceConfig]
    stages: dict[Annotated[str, Field(pattern=STAGE_NAME)], StageConfig]
    transport: Transport = Transport()
    logging: Logging = Logging()
    metrics: Metrics = Metrics()
    supervisor: Supervisor = Supervisor()
    security: Security | None = None
    view: View | None = None

    @model_validator(mode="after")
    def _curve_off_loopback(self) -> PipelineConfig:
        if self.security is not None:
            return self
        addresses = [("transport.host", f"tcp://{self.transport.host}:0")] \
            if self.transport.kind == "tcp" else []
        for name, stage in self.stages.items():
            if stage.endpoint:
                addresses.append((f"stages.{name}.endpoint", stage.endpoint))
            if stage.type == "publish":
                addresses.append((f"stages.{name}.bind", stage.bind))
                if stage.event_log.replay_bind:
                    addresses.append((f"stages.{name}.event_log.replay_bind",
                                      stage.event_log.replay_bind))
        for path, address in addresses:
            if not is_loopback(address):
                raise ValueError(f"{path}: {address} is not on loopback, so CURVE is "
                                 "required: add a security: section (server_key, "
                                 "client_key, authorized_keys; make the keys with "
                                 "`mestream keys DIR`)")
        return self

    @model_validator(mode="after")
    def _endpoints(self) -> PipelineConfig:
        """Every address well formed, every tcp port in 1..65535, and no two sockets of
        the pipeline binding the same address (a publish's replay port included):
        before, port 99999 bound another port and a clash failed only at run time."""
        bound: dict[str, str] = {}

        def check(path: str, address: str) -> None:
            if not address.startswith(("tcp://", "ipc://")):
                raise ValueError(f"{path}: {address!r} is neither tcp://host:port nor "
                                 "ipc://path")
            if address.startswith("tcp://"):
                host, sep, port = address.removeprefix("tcp://").rpartition(":")
                if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                    raise ValueError(f"{path}: {address!r} needs a port in 1..65535")
            if address in bound:
                raise ValueError(f"{path}: {address} is also bound by {bound[address]}")
            bound[address] = path

        for name, stage in self.stages.items():
            if stage.endpoint:
                check(f"stages.{name}.endpoint", stage.endpoint)
            if stage.type == "publish":
                check(f"stages.{name}.bind", stage.bind)
                if stage.event_log.enabled:
                    from pipeline.stages.publish.eventlog import replay_endpoint

                    replay = stage.event_log.replay_bind or replay_endpoint(stage.bind)
                    check(f"stages.{name}.event_log.replay_bind (the replay endpoint "
                          f"{'set' if stage.event_log.replay_bind else 'next to bind'})",
                          replay)
        return self

    @model_validator(mode="after")
    def _wiring(self) -> PipelineConfig:
        if not self.sources:
            raise ValueError("sources: at least one source is needed")
        names = list(self.stages)
        if not names or self.stages[names[0]].type != "capture":
            raise ValueError("stages: the first stage must be of type capture")
        captured: dict[str, str] = {}
        for name, stage in self.stages.items():
            if stage.type == "capture":
                for sid in stage.sources or list(self.sources):
                    if sid not in self.sources:
                        raise ValueError(
                            f"stages.{name}.sources: unknown source {sid!r}; "
                            f"expected one of {sorted(self.sources)}")
                    if sid in captured:
                        raise ValueError(
                            f"stages.{name}.sources: source {sid!r} is already "
                            f"captured by stage {captured[sid]!r}")
                    captured[sid] = name
                if stage.input is not None:
                    raise ValueError(f"stages.{name}.input: a capture stage has no input")
                if not self.downstream(name):
                    raise ValueError(f"stages.{name}: no stage reads from this capture "
                                     "stage; add one after it (e.g. type: publish)")
            else:
                up = self.upstream(name)
                if up not in self.stages or names.index(up) >= names.index(name):
                    raise ValueError(
                        f"stages.{name}.input: {up!r} is not a stage before {name!r}; "
                        f"expected one of {names[: names.index(name)]}")
        for name in names:
            if len(self.downstream(name)) > 1:
                raise ValueError(f"stages: {self.downstream(name)} all read from {name!r}; "
                                 "a stage feeds one stage (fan out with publish)")
        missing = sorted(set(self.sources) - set(captured))
        if missing:
            raise ValueError(f"sources {missing} are not read by any capture stage")
        return self
