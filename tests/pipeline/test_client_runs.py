"""A subscriber that stays connected while the pipeline is started again: the new run
numbers its events from 0 in a log of its own, and the subscriber takes them from the
first, however the change of run reaches it (the replay endpoint answering for a log
still empty, or not answering at all). Real sockets, a real event log and replay server;
the test plays the publish stage's two sockets itself so each case is deterministic."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import zmq

from pipeline.client import EventSubscriber
from pipeline.runtime.sockets import free_tcp_port
from pipeline.stages.publish.eventlog import EventLog
from pipeline.stages.publish.stage import ReplayServer


class PublishRun:
    """One run of a publish stage: an XPUB for live records and, unless told not to, a
    replay server over the run's own event log."""

    def __init__(self, zctx: zmq.Context, port: int, log_dir: Path, run_id: str,
                 replay: bool = True):
        self.run_id = run_id
        self.events = EventLog(log_dir, fsync="always")
        self.pub = zctx.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(f"tcp://127.0.0.1:{port}")
        self.replay = None
        if replay:
            self.replay = ReplayServer(zctx, f"tcp://127.0.0.1:{port + 1}", log_dir,
                                       lambda: self.events.next_seq - 1,
                                       logging.getLogger("test"), run_id)
            self.replay.start()

    def wait_subscriber(self, sub: EventSubscriber) -> None:
        """Until ``sub``'s subscription arrives. The subscriber is kept receiving
        meanwhile: a SUB socket sends its subscription on a new connection only when
        its owner calls into it (libzmq attaches the pipe in the user's thread)."""
        deadline = time.monotonic() + 30
        while not self.pub.poll(0, zmq.POLLIN):
            assert time.monotonic() < deadline, "the subscriber never subscribed"
            assert sub.receive(0.02) is None
        self.pub.recv()

    def publish(self, n: int) -> None:
        for i in range(n):
            body = self.events.append({"type": "event", "stream": "cam", "seq": i,
                                       "run_id": self.run_id})
            self.pub.send_multipart([b"cam", body])

    def close(self) -> None:
        if self.replay is not None:
            self.replay.last_request = 0.0  # nobody is catching up: no linger
            self.replay.close()
        self.pub.close()
        self.events.close()


def first_run(zctx: zmq.Context, port: int, log_dir: Path, sub: EventSubscriber,
              n: int) -> None:
    """Run "run-a" to its end: ``n`` records, all taken by ``sub`` in order."""
    run = PublishRun(zctx, port, log_dir, "run-a")
    run.wait_subscriber(sub)
    run.publish(n)
    assert [r["event_seq"] for r in take(sub, n)] == list(range(n))
    run.close()


def take(sub: EventSubscriber, n: int) -> list[dict]:
    records = [sub.receive(30) for _ in range(n)]
    assert None not in records
    return records


def test_a_new_run_found_while_its_log_is_still_empty_is_taken_from_its_first_record(
        tmp_path, zctx):
    port = free_tcp_port(consecutive=2)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", catchup_s=0.05) as sub:
        first_run(zctx, port, tmp_path / "a", sub, 3)
        second = PublishRun(zctx, port, tmp_path / "b", "run-b")
        second.wait_subscriber(sub)
        # The subscriber's idle check reaches run b before b has logged anything.
        deadline = time.monotonic() + 30
        while sub.runs_seen == 0 and time.monotonic() < deadline:
            assert sub.receive(0.1) is None
        assert sub.run_id == "run-b" and second.replay.requests >= 1
        second.publish(3)
        two = take(sub, 3)
        second.close()
    assert [(r["run_id"], r["event_seq"]) for r in two] == [("run-b", i) for i in range(3)]
    assert sub.duplicates == sub.lost == 0 and sub.runs_seen == 1


def test_a_new_run_whose_replay_endpoint_does_not_answer_is_still_taken_whole(tmp_path, zctx):
    port = free_tcp_port(consecutive=2)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", catchup_s=0.05,
                         request_timeout_s=0.3) as sub:
        first_run(zctx, port, tmp_path / "a", sub, 5)
        second = PublishRun(zctx, port, tmp_path / "b", "run-b", replay=False)
        second.wait_subscriber(sub)
        second.publish(3)
        two = take(sub, 3)
        second.close()
    # Seq 0 after seq 4 under a new run id: a log of its own (a resumed one numbers on).
    assert [(r["run_id"], r["event_seq"]) for r in two] == [("run-b", i) for i in range(3)]
    assert sub.duplicates == sub.lost == 0 and sub.runs_seen == 1


def test_a_resumed_log_under_a_new_run_carries_on_without_a_repeat(tmp_path, zctx):
    """``event_log.resume: true``: one log across runs, numbering on."""
    port = free_tcp_port(consecutive=2)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", catchup_s=0.05) as sub:
        first_run(zctx, port, tmp_path / "log", sub, 3)
        second = PublishRun(zctx, port, tmp_path / "log", "run-b")
        second.wait_subscriber(sub)
        second.publish(2)
        two = take(sub, 2)
        second.close()
        assert sub.receive(0.3) is None  # nothing of run a handed out again
    assert [(r["run_id"], r["event_seq"]) for r in two] == [("run-b", 3), ("run-b", 4)]
    assert sub.lost == 0 and sub.runs_seen == 1
