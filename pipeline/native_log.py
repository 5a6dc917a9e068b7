"""Native libraries' chatter on stderr, told apart from messages a user needs.

MediaPipe and TensorFlow Lite write glog/absl lines straight to file descriptor 2 from
C++ (``W0000 ... inference_feedback_manager.cc:114] Feedback manager requires ...``),
and no environment variable of mediapipe 0.10.21 turns them off (``GLOG_minloglevel``
and ``TF_CPP_MIN_LOG_LEVEL`` were tried). They say nothing about the pipeline, so the
supervisor and the demo drop them from what they show, unless the log level is DEBUG.
They stay in the crash tail the supervisor keeps.

Example:
    >>> is_native_noise("W0000 00:00:1795262415.409316   10222 inference_feedback_"
    ...                 "manager.cc:114] Feedback manager requires a model ...")
    True
    >>> is_native_noise("ERROR pipeline.runtime.stage: align: bad frame")
    False
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# glog/absl prefix: severity letter, MMDD, time, thread id, file:line]
_GLOG = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ")
_FIXED = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
)


def is_native_noise(line: str) -> bool:
    """True for an info/warning line a native library (glog/absl, TF Lite) wrote."""
    return line.startswith(_FIXED) or _GLOG.match(line) is not None


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Within the block, file descriptor 2 goes to a temporary file; at the end every line
    that is not native noise is written back to stderr, in order (nothing is lost)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for raw in tmp:
                line = raw.decode(errors="replace")
                if not is_native_noise(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


@contextmanager
def native_noise_dropped() -> Iterator[None]:
    """Within the block, file descriptor 2 goes through a pipe: native libraries' noise
    lines are dropped as they come, every other line passes to stderr at once (progress
    and errors are not held back). Processes started inside inherit the filter."""
    sys.stderr.flush()
    saved = os.dup(2)
    # The pump's own copy of the real stderr, made here: made in the thread, it raced the
    # restore below on a command that ends at once (EBADF, and its lines were lost).
    out_fd = os.dup(saved)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as src, os.fdopen(out_fd, "wb", 0) as dst:
            for raw in src:
                if not is_native_noise(raw.decode(errors="replace")):
                    dst.write(raw)

    thread = threading.Thread(target=pump, name="native-log-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)          # the pipe's last writer here closes: the pump ends
        os.close(saved)
        thread.join(timeout=5)
