"""CURVE: `mestream keys`, the off-loopback rule, and real processes refusing peers
whose keys are not authorised; no pickle on the wire."""

from __future__ import annotations

import pickle
import subprocess

import msgpack
import numpy as np
import pytest
import zmq
import zmq.auth

from pipeline.client import EventSubscriber
from pipeline.config import load_config
from pipeline.errors import WireError
from pipeline.runtime import wire
from pipeline.runtime.keys import CurveKeys
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message
from tests.conftest import REPO, free_port, mestream, write_config
from tests.pipeline.config.test_config import GOOD, validate
from tests.reliability.test_replay import free_port_pair


def keys(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mestream("keys", str(tmp_path / "keys"), *args), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_keys_are_made_once_and_never_overwritten(tmp_path):
    out = keys(tmp_path)
    assert out.returncode == 0, out.stderr
    d = tmp_path / "keys"
    assert {p.name for p in d.iterdir()} == {"server.key", "server.key_secret", "client.key",
                                            "client.key_secret", "authorized"}
    assert [p.name for p in (d / "authorized").iterdir()] == ["client.key"]
    assert (d / "client.key_secret").stat().st_mode & 0o077 == 0, "secret keys are private"
    again = keys(tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_tcp_off_loopback_without_curve_is_a_config_error(tmp_path):
    text = GOOD.replace("tcp://127.0.0.1:5999", "tcp://0.0.0.0:5999")
    out = validate(tmp_path, text)
    assert out.returncode == 2
    assert "stages.publish.bind: tcp://0.0.0.0:5999 is not on loopback" in out.stderr
    assert "mestream keys" in out.stderr
    out = validate(tmp_path, text + "security:\n  server_key: k/server.key_secret\n"
                   "  client_key: k/client.key_secret\n  authorized_keys: k/authorized\n")
    assert out.returncode == 0, out.stderr
    out = validate(tmp_path, GOOD + "transport:\n  kind: tcp\n  host: 10.1.2.3\n")
    assert out.returncode == 2 and "transport.host" in out.stderr


def test_only_authorised_peers_get_through(tmp_path, run_pipeline, zctx):
    """A whole pipeline on tcp with CURVE (stage links, control, publish, replay): the
    authorised subscriber gets every record; a subscriber with its own, unauthorised
    key pair and one without CURVE get nothing; a rogue sender with an unauthorised
    key cannot inject frames; the refusals are logged."""
    assert keys(tmp_path).returncode == 0
    assert keys(tmp_path, "--name", "rogue", "--no-authorize").returncode == 0
    k = tmp_path / "keys"
    port, base = free_port_pair(), free_port()
    config = write_config(tmp_path, {
        "name": "t-curve",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48,
                            "frames": 30, "fps": 30, "realtime": True}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
        "transport": {"kind": "tcp", "base_port": base},
        "security": {"server_key": str(k / "server.key_secret"),
                     "client_key": str(k / "client.key_secret"),
                     "authorized_keys": str(k / "authorized")},
    })
    good = CurveKeys.client(k / "server.key", k / "client.key_secret")
    rogue = CurveKeys.client(k / "server.key", k / "rogue.key_secret")
    endpoint = f"tcp://127.0.0.1:{port}"
    inp = load_config(config).input_endpoint("publish")
    with EventSubscriber(endpoint, timeout_s=60, curve=good) as sub, \
            EventSubscriber(endpoint, curve=rogue) as bad, \
            EventSubscriber(endpoint) as plain, \
            open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0, curve=rogue) as inject:
        run = run_pipeline(config)
        image = np.zeros((8, 8, 3), np.uint8)
        inject.send_multipart(wire.encode(Message(wire.FRAME, "cam", 1000, 0,
                                                  {"image": image})))
        records = list(sub.until_end(["cam"]))
        assert run.wait(60) == 0, run.log
        assert bad.receive(0.2) is None and plain.receive(0.2) is None
    assert [r["seq"] for r in records] == list(range(31)), "nothing injected, nothing lost"
    assert "refused a CURVE client" in run.log
    rogue_public, _ = zmq.auth.load_certificate(k / "rogue.key")
    assert f"its key {rogue_public.decode()} is not in" in run.log


def test_the_decoder_never_unpickles():
    """A pickle where a header belongs is a WireError, however it is dressed."""
    payload = pickle.dumps({"v": 1, "kind": "frame", "stream": "cam"})
    for parts in ([b"cam", payload], [b"cam", msgpack.packb({"v": 1, "kind": "event",
              "stream": "cam", "seq": 0, "pts_ns": 0, "bufs": [], "meta": payload})]):
        try:
            msg = wire.decode(parts)
        except WireError:
            continue
        assert msg.meta == payload, "bytes stay bytes: never loaded"
    with pytest.raises(WireError, match="dtype"):
        wire.decode([b"cam", msgpack.packb({"v": 1, "kind": "event", "stream": "cam",
                     "seq": 0, "pts_ns": 0, "bufs": [{"name": "x", "dtype": "object",
                                                      "shape": [1]}], "meta": {}}), b"x" * 8])


def test_no_pickle_in_the_runtime():
    """grep: nothing under pipeline/ or engines/ imports pickle or calls np.load with
    allow_pickle (what crosses a socket is msgpack, JSON or raw array bytes)."""
    offenders = []
    for path in [*(REPO / "pipeline").rglob("*.py"), *(REPO / "engines").rglob("*.py")]:
        text = path.read_text()
        if "import pickle" in text or "allow_pickle=True" in text or "recv_pyobj" in text \
                or "send_pyobj" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_run_folders_are_private_and_another_users_is_refused(tmp_path):
    """Before: the run folder's parents were created 0755 and never checked."""
    import os

    import pytest

    from pipeline.runtime.sockets import prepare_ipc_path

    prepare_ipc_path(f"ipc://{tmp_path}/mestream-u/pipe/stage.ipc")
    for d in (tmp_path / "mestream-u", tmp_path / "mestream-u" / "pipe"):
        assert d.stat().st_mode & 0o777 == 0o700, d
    if os.getuid() != 0:
        pytest.skip("handing a folder to another user needs root")
    other = tmp_path / "theirs"
    other.mkdir()
    os.chown(other, 54321, -1)
    with pytest.raises(PermissionError, match="belongs to uid 54321"):
        prepare_ipc_path(f"ipc://{other}/stage.ipc")
