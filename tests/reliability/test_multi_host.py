"""The same YAML split over two network namespaces joined by a veth pair: capture on
"host A", publish on "host B", tcp with CURVE between them, and a subscriber on host A
reading host B's publisher. Skipped, with the reason, where namespaces are not
permitted (needs root or CAP_NET_ADMIN)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, mestream, write_config


def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    """(ns_a, ns_b, ip_b): two namespaces, 10.77.<n>.1 and .2 on a veth pair."""
    n = os.getpid() % 200 + 20
    a, b = f"mest-a-{os.getpid()}", f"mest-b-{os.getpid()}"
    made = sh("ip", "netns", "add", a)
    if made.returncode != 0:
        pytest.skip(f"network namespaces not permitted here: {made.stderr.strip()}")
    try:
        steps = [
            ("ip", "netns", "add", b),
            ("ip", "link", "add", f"va{n}", "type", "veth", "peer", "name", f"vb{n}"),
            ("ip", "link", "set", f"va{n}", "netns", a),
            ("ip", "link", "set", f"vb{n}", "netns", b),
            ("ip", "-n", a, "addr", "add", f"10.77.{n}.1/24", "dev", f"va{n}"),
            ("ip", "-n", b, "addr", "add", f"10.77.{n}.2/24", "dev", f"vb{n}"),
            ("ip", "-n", a, "link", "set", f"va{n}", "up"),
            ("ip", "-n", b, "link", "set", f"vb{n}", "up"),
            ("ip", "-n", a, "link", "set", "lo", "up"),
            ("ip", "-n", b, "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = sh(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot build the veth link ({' '.join(step)}): "
                            f"{done.stderr.strip()}")
        yield a, b, f"10.77.{n}.2"
    finally:
        sh("ip", "netns", "del", a)
        sh("ip", "netns", "del", b)


def in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def test_one_yaml_over_two_hosts_with_curve(tmp_path, two_hosts):
    ns_a, ns_b, ip_b = two_hosts
    keys = tmp_path / "keys"
    assert subprocess.run(mestream("keys", str(keys)), cwd=REPO).returncode == 0
    config = write_config(tmp_path, {
        "name": "t-netns",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48,
                            "frames": 40, "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "endpoint": f"tcp://{ip_b}:5601",
                               "bind": f"tcp://{ip_b}:5560", "wait_subscribers": 1}},
        "transport": {"kind": "tcp"},
        "security": {"server_key": str(keys / "server.key_secret"),
                     "client_key": str(keys / "client.key_secret"),
                     "authorized_keys": str(keys / "authorized")},
    })
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("publish", "capture")}
    procs = []
    try:
        procs.append(subprocess.Popen(in_ns(ns_b, *mestream("stage", "publish", "--config",
                                                             str(config))),
                                      cwd=REPO, env=env, stderr=logs["publish"]))
        sub = subprocess.Popen(in_ns(ns_a, sys.executable, "-m",
                                     "tests.reliability.netns_subscriber",
                                     f"tcp://{ip_b}:5560", str(keys), "cam"),
                               cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        procs.append(sub)
        assert json.loads(sub.stdout.readline())["type"] == "subscribed"
        procs.append(subprocess.Popen(in_ns(ns_a, *mestream("stage", "capture", "--config",
                                                             str(config))),
                                      cwd=REPO, env=env, stderr=logs["capture"]))
        out, _ = sub.communicate(timeout=90)
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs.values():
            f.close()
    text = "".join((tmp_path / f"{n}.log").read_text() for n in ("publish", "capture"))
    assert codes == [0, 0, 0], text
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in records] == list(range(41)), text
    assert records[-1]["type"] == "end_of_stream" and records[-1]["reason"] == "end-of-file"
