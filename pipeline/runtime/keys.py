"""CURVE keys: making them (``mestream keys``), loading them, and refusing peers whose
key is not authorised.

ZeroMQ's CURVE encrypts and authenticates tcp links. mestream uses one server key pair
for every socket that binds a tcp endpoint (stage inputs, publish, replay, control) and
a client key pair for every socket that connects; a bound socket admits only clients
whose public key file lies in the ``authorized_keys`` folder (a ZAP handler), and logs
each one it refuses. Key files are ZeroMQ's certificate format (``zmq.auth``):
``NAME.key`` holds the public key, ``NAME.key_secret`` both.

Example:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> sorted(p.relative_to(d).as_posix() for p in make_keys(d))
    ['authorized/client.key', 'client.key', 'client.key_secret', 'server.key', 'server.key_secret']
    >>> public, secret = load_key(d / "server.key_secret", "security.server_key")
    >>> len(public), len(secret)
    (40, 40)
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
import zmq.auth
import zmq.utils.z85

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import Security

log = logging.getLogger("mestream.keys")

AUTHORIZED = "authorized"


def make_keys(directory: Path, names: list[str] | None = None,
              authorize: bool | None = None) -> list[Path]:
    """Create key pairs ``NAME.key`` / ``NAME.key_secret`` in ``directory`` (default
    names: ``server`` and ``client``) and copy client public keys into
    ``directory/authorized`` (default: every name but ``server``). Refuses to overwrite.
    Returns the files written."""
    names = names or ["server", "client"]
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in names:
        public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
        if public.exists() or secret.exists():
            raise FileExistsError(f"{public} already exists; remove it to make a new pair")
        # umask 077 while pyzmq writes: the secret is never readable by others, not
        # even between its creation and a chmod (it used to be 0644 for that moment).
        old_mask = os.umask(0o077)
        try:
            made_public, made_secret = zmq.auth.create_certificates(directory, name)
        finally:
            os.umask(old_mask)
        os.chmod(made_public, 0o644)  # public keys are meant to be copied around
        written += [Path(made_public), Path(made_secret)]
        if authorize if authorize is not None else name != "server":
            folder = directory / AUTHORIZED
            folder.mkdir(exist_ok=True)
            shutil.copy(made_public, folder / f"{name}.key")
            written.append(folder / f"{name}.key")
    return written


def load_key(path: Path, yaml_path: str, *, need_secret: bool = True
             ) -> tuple[bytes, bytes | None]:
    """(public, secret) z85 keys from a certificate file; errors name the YAML path."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{yaml_path}: cannot read a CURVE key from {str(path)!r}: "
                           f"{exc} (make keys with `mestream keys DIR`)"]) from None
    if need_secret and secret is None:
        raise ConfigError([f"{yaml_path}: {str(path)!r} holds only a public key; this "
                           "process needs the secret one (the .key_secret file)"])
    return public, secret


@dataclass(frozen=True)
class CurveKeys:
    """The keys one process uses on its tcp sockets.

    Attributes:
        server_public: the public key every connecting socket expects of the server.
        server_secret: for binding sockets (None on a host that only connects).
        client_public, client_secret: this process's identity when it connects.
        authorized: folder of public keys a bound socket admits (None: only connects).
    """

    server_public: bytes
    server_secret: bytes | None
    client_public: bytes
    client_secret: bytes
    authorized: Path | None = None

    @classmethod
    def from_config(cls, sec: Security) -> CurveKeys:
        server_public, server_secret = load_key(sec.server_key, "security.server_key",
                                                need_secret=False)
        client_public, client_secret = load_key(sec.client_key, "security.client_key")
        assert client_secret is not None
        return cls(server_public, server_secret, client_public, client_secret,
                   sec.authorized_keys)

    @classmethod
    def client(cls, server_key: Path, client_key: Path) -> CurveKeys:
        """Keys for a subscriber: the server's public key file and this client's
        secret key file."""
        server_public, _ = load_key(server_key, "server_key", need_secret=False)
        client_public, client_secret = load_key(client_key, "client_key")
        assert client_secret is not None
        return cls(server_public, None, client_public, client_secret)

    def apply(self, sock: zmq.Socket, address: str, bind: bool) -> None:
        """Make ``sock`` a CURVE server (bind) or client (connect)."""
        if bind:
            if self.server_secret is None:
                raise ConfigError([f"security.server_key: this process binds {address}, "
                                   "which needs the server's secret key (.key_secret); "
                                   "the file given holds only the public key"])
            if self.authorized is None or not self.authorized.is_dir():
                raise ConfigError([f"security.authorized_keys: this process binds "
                                   f"{address}, so it needs the folder of client keys it "
                                   f"admits; got {self.authorized}"])
            sock.curve_secretkey = self.server_secret
            sock.curve_publickey = self.server_public
            sock.curve_server = True
        else:
            sock.curve_secretkey = self.client_secret
            sock.curve_publickey = self.client_public
            sock.curve_serverkey = self.server_public


@functools.cache
def refusing_authenticator() -> type:
    """pyzmq's ZAP handler thread, logging every client it refuses (pyzmq logs at
    DEBUG). Built on first use: zmq.auth.thread imports asyncio, which a stage that
    binds no tcp socket need not pay for at (re)start."""
    from zmq.auth.thread import ThreadAuthenticator

    class RefusingAuthenticator(ThreadAuthenticator):
        def __init__(self, context: zmq.Context, folder: Path):
            super().__init__(context, log=logging.getLogger("mestream.keys.zap"))
            self.folder = folder
            self.refused: dict[bytes, int] = {}  # client key -> refusals (peers retry)
            self._address = "?"

        async def handle_zap_message(self, msg: list[bytes]) -> None:
            if len(msg) > 3:
                self._address = msg[3].decode(errors="replace")
            await super().handle_zap_message(msg)

        async def _authenticate_curve(self, domain: str, client_key: bytes
                                      ) -> tuple[bool, bytes]:
            allowed, reason = await super()._authenticate_curve(domain, client_key)
            if not allowed:
                n = self.refused[client_key] = self.refused.get(client_key, 0) + 1
                if n == 1 or n % 100 == 0:  # ZeroMQ retries every 100 ms: log, not flood
                    log.warning("refused a CURVE client from %s: its key %s is not in %s "
                                "(%s; %d attempts)", self._address,
                                zmq.utils.z85.encode(client_key).decode(), self.folder,
                                reason.decode(errors="replace"), n)
            return allowed, reason

    return RefusingAuthenticator


def start_authenticator(ctx: zmq.Context, keys: CurveKeys) -> Any:
    """Start the ZAP handler of ``ctx`` (before any CURVE socket binds); None when the
    process only connects."""
    if keys.authorized is None or not keys.authorized.is_dir():
        return None  # a process that binds tcp then stops with the reason (apply)
    auth = refusing_authenticator()(ctx, keys.authorized)
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.authorized))
    return auth


def secure_process(ctx: zmq.Context, sec: Security | None) -> Any:
    """From the YAML's ``security:``: CURVE on every later tcp socket of this process and
    a ZAP handler on ``ctx``. Returns the handler to stop before ``ctx.term()``."""
    from pipeline.runtime.sockets import use_curve

    if sec is None:
        use_curve(None)
        return None
    keys = CurveKeys.from_config(sec)
    use_curve(keys)
    return start_authenticator(ctx, keys)


def add_parser(sub: Any) -> None:
    """Register ``mestream keys``."""
    k = sub.add_parser("keys", help="make CURVE key pairs for tcp links and subscribers")
    k.add_argument("dir", help="folder for the key files (created)")
    k.add_argument("--name", action="append", default=None,
                   help="key pair to make (repeatable; default: server and client)")
    k.add_argument("--no-authorize", action="store_true",
                   help="do not copy the new client public keys into DIR/authorized")
    k.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    try:
        written = make_keys(Path(args.dir), args.name,
                            authorize=False if args.no_authorize else None)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
