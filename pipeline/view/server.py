"""``mestream view``: a live web page of a running pipeline.

Two inputs, both plain ZeroMQ: the align workers' previews (the YAML's ``view:`` section;
this server binds ``view.endpoint``) and the publish stage's records, subscribed to like
any client (``track`` records for the score strip, ``event`` records for the list). The
page (Starlette on uvicorn) shows one tile per stream: its newest frame with the face boxes
and the score strip (MJPEG, ``/stream/<id>.mjpg``), and the events as they come
(Server-Sent Events, ``/events``); ``/api/streams`` says what each stream shows.

The server binds loopback unless told otherwise, and refuses any other address without a
token: every request must then carry ``?token=...`` or ``Authorization: Bearer ...``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import zmq
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pipeline.client import EventSubscriber
from pipeline.config.schema import is_loopback
from pipeline.runtime.sockets import open_socket
from pipeline.view.page import page_html
from pipeline.view.preview import Preview
from pipeline.view.state import ViewState

log = logging.getLogger("mestream.view")
MAX_PREVIEW_BYTES = 8 << 20
FRAME_POLL_S = 0.04
EVENTS_BACKLOG = 50
EOS_JOIN_S = 15.0  # a GStreamer sink finishing its file


class ViewReceiver(threading.Thread):
    """Reads previews and records into a :class:`ViewState` until stopped."""

    def __init__(self, state: ViewState, preview_endpoint: str, records_endpoint: str):
        super().__init__(name="view-receiver", daemon=True)
        self.state = state
        self.preview_endpoint = preview_endpoint
        self.records_endpoint = records_endpoint
        self.ready = threading.Event()
        self._halt = threading.Event()
        self.malformed_previews = 0

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        ctx = zmq.Context()
        try:
            with open_socket(ctx, zmq.SUB, self.preview_endpoint, bind=True, rcvhwm=64,
                             linger_ms=0, max_message_bytes=MAX_PREVIEW_BYTES) as previews, \
                    EventSubscriber(self.records_endpoint, replay=False) as records:
                poller = zmq.Poller()
                poller.register(previews, zmq.POLLIN)
                poller.register(records.socket, zmq.POLLIN)
                self.ready.set()
                while not self._halt.is_set():
                    ready = dict(poller.poll(100))
                    if previews in ready:
                        self._take_previews(previews)
                    if records.socket in ready:
                        # (a zero timeout would return before reading the socket)
                        while (record := records.receive(timeout_s=0.001)) is not None:
                            self.state.add_record(record)
        finally:
            ctx.destroy(linger=0)

    def _take_previews(self, sock: zmq.Socket) -> None:
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self.state.add_preview(Preview.from_parts(parts))
            except ValueError as exc:
                self.malformed_previews += 1
                if self.malformed_previews in (1, 10, 100) or self.malformed_previews % 1000 == 0:
                    log.warning("skipped a malformed preview (%d so far): %s",
                                self.malformed_previews, exc)


def make_app(state: ViewState, token: str | None = None, title: str = "mestream") -> Starlette:
    """The web app over ``state``; with ``token``, every request must carry it."""

    def allowed(request: Request) -> bool:
        if not token:
            return True
        given = request.query_params.get("token", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), token.encode())

    def guard(handler: Any) -> Any:
        async def checked(request: Request) -> Response:
            if not allowed(request):
                return Response("a token is required (?token=... or Authorization: Bearer)",
                                status_code=401, media_type="text/plain")
            return await handler(request)
        return checked

    async def index(request: Request) -> Response:
        return HTMLResponse(page_html(title, request.query_params.get("token", "")))

    async def streams(request: Request) -> Response:
        return JSONResponse({"streams": state.summary(), "events": state.event_count})

    async def mjpeg(request: Request) -> Response:
        sid = request.path_params["stream"]

        async def frames() -> AsyncIterator[bytes]:
            last = -1
            while not await request.is_disconnected():
                got = state.picture(sid)
                if got is not None and got.version != last:
                    last, jpeg = got.version, got.jpeg
                    yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                           + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                await asyncio.sleep(FRAME_POLL_S)

        return StreamingResponse(frames(),
                                 media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    async def events(request: Request) -> Response:
        async def lines() -> AsyncIterator[str]:
            seen = max(0, state.event_count - EVENTS_BACKLOG)
            idle = 0
            while not await request.is_disconnected():
                new = state.events_after(seen)
                for n, event in new:
                    seen = n
                    yield f"id: {n}\ndata: {json.dumps(event, default=str)}\n\n"
                idle = 0 if new else idle + 1
                if idle >= 100:  # a comment every ~10 s keeps proxies from closing it
                    idle = 0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.1)

        return StreamingResponse(lines(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/", guard(index)),
        Route("/api/streams", guard(streams)),
        Route("/stream/{stream}.mjpg", guard(mjpeg)),
        Route("/events", guard(events)),
    ])


def check_host(host: str, token: str | None) -> None:
    """Refuse to serve off loopback without a token (ValueError says what to do)."""
    if not is_loopback(f"tcp://{host}:0") and not token:
        raise ValueError(f"--host {host} is not loopback: the page shows the cameras, so "
                         "give it a --token (or MESTREAM_VIEW_TOKEN) that every viewer "
                         "must present")


def serve(preview_endpoint: str, records_endpoint: str, host: str = "127.0.0.1",
          port: int = 8080, token: str | None = None, title: str = "mestream",
          gst_out: dict[str, str] | None = None, page: bool = True, fps: float = 5.0) -> int:
    """Run the view until interrupted (Ctrl-C / SIGTERM); without the page, until every
    ``gst_out`` stream ended. ``gst_out``: stream id -> GStreamer pipeline its annotated
    pictures are pushed into. Returns the exit code (1 if a sink failed)."""
    check_host(host, token)
    state = ViewState()
    receiver = ViewReceiver(state, preview_endpoint, records_endpoint)
    receiver.start()
    if not receiver.ready.wait(10):
        raise RuntimeError(f"could not bind {preview_endpoint} for previews")
    feeders = []
    if gst_out:
        from pipeline.view.gst_sink import GStreamerSink, SinkFeeder

        feeders = [SinkFeeder(state, sid, GStreamerSink(desc, fps))
                   for sid, desc in gst_out.items()]
        for feeder in feeders:
            feeder.start()
    try:
        if page:
            _serve_page(state, host, port, token, title, preview_endpoint, records_endpoint)
        else:
            for feeder in feeders:
                while feeder.is_alive():
                    feeder.join(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for feeder in feeders:
            feeder.stop()
        for feeder in feeders:
            feeder.join(EOS_JOIN_S)
        receiver.stop()
        receiver.join(5)
    failed = [f for f in feeders if f.error is not None]
    for f in failed:
        log.error("--gst-out %s: %s", f.stream, f.error)
    for f in feeders:
        print(f"gst-out {f.stream}: {f.sink.frames} frames", flush=True)
    return 1 if failed else 0


def _serve_page(state: ViewState, host: str, port: int, token: str | None, title: str,
                preview_endpoint: str, records_endpoint: str) -> None:
    import uvicorn

    config = uvicorn.Config(make_app(state, token, title), host=host, port=port,
                            log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    shown = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    log.warning("mestream view on %s (previews at %s, records from %s)", shown,
                preview_endpoint, records_endpoint)
    print(f"view: {shown}", flush=True)
    server.run()
