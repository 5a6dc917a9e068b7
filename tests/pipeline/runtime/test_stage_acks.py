"""End-of-stream acknowledgements are per epoch: a late ack of a re-read's earlier pass
does not clear the end-of-stream of the pass that followed (it would then never be
sent again if it were lost in a killed stage)."""

from __future__ import annotations

import threading

import zmq

from pipeline.runtime import wire
from pipeline.runtime.links import Sender
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message


def test_an_ack_clears_only_the_end_of_its_own_epoch(tmp_path, zctx) -> None:
    address = f"ipc://{tmp_path}/acks.ipc"
    with open_socket(zctx, zmq.ROUTER, address, bind=True, linger_ms=0) as receiver, \
            open_socket(zctx, zmq.DEALER, address, bind=False, linger_ms=0) as sock:
        sender = Sender(sock, threading.Event())
        for epoch in (1, 2):  # the same stream ended twice: a pass, then a re-read
            sender.send(Message(wire.EOS, "cam", 5, 0, epoch=epoch))
        peer = None
        for _ in range(2):
            assert receiver.poll(10_000)
            peer, *_parts = receiver.recv_multipart()
        receiver.send_multipart([peer, *wire.encode(
            Message(wire.ACK, "cam", 5, 0, epoch=1))])  # the first pass's, late
        assert sender.wait_for_acks(0.5) == ["cam"]
        receiver.send_multipart([peer, *wire.encode(
            Message(wire.ACK, "cam", 5, 0, epoch=2))])
        assert sender.wait_for_acks(10) == []
