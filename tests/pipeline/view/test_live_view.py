"""``mestream view`` end to end: a real pipeline (capture -> align -> spot -> publish, a
scripted micro-expression), the view server in its own process, and the page loaded in
headless Chromium (Debian's, driven by playwright): the stream's picture loads and the
planted event appears in the list. Also: the server refuses to leave loopback without a
token, and with one, a request without it is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO, free_port, mestream, wait_until
from tests.pipeline.view.conftest import view_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                    "(make test installs Debian's)")


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, b""


@needs_chromium
def test_the_page_shows_the_stream_and_a_planted_event(tmp_path, run_pipeline,
                                                       view_process) -> None:
    from playwright.sync_api import sync_playwright

    config = view_config(tmp_path, free_port())
    port = free_port()
    view = view_process(config, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _get(f"{base}/api/streams")[0] == 200 or view.proc.poll() is not None,
               60, "the view server to answer")
    assert view.proc.poll() is None, view.log
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(base + "/")
            # The pipeline starts once the view subscribed (publish.wait_subscribers: 1).
            run = run_pipeline(config)
            event = page.wait_for_selector("#events li.event", timeout=120_000)
            text = event.inner_text()
            assert text.startswith("cam ") and "micro" in text, text
            # The stream's tile: its MJPEG picture decoded by the browser.
            page.wait_for_function(
                "() => { const i = document.querySelector('#tile-cam img');"
                " return i && i.naturalWidth > 0; }", timeout=60_000)
            line = page.inner_text("#tile-cam .line")
            assert "faces 1" in line, line
        finally:
            browser.close()
    assert run.wait(60) == 0, run.log
    status, body = _get(f"{base}/api/streams")
    summary = json.loads(body)
    cam = summary["streams"][0]
    assert status == 200 and cam["stream"] == "cam" and cam["events"] == 1
    assert cam["records"] > 100 and cam["threshold"] is not None


def test_off_loopback_needs_a_token_and_the_token_is_checked(tmp_path,
                                                            view_process) -> None:
    config = view_config(tmp_path, free_port())
    refused = subprocess.run(mestream("view", str(config), "--host", "0.0.0.0"), cwd=REPO,
                             capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if k != "MESTREAM_VIEW_TOKEN"})
    assert refused.returncode == 2
    assert "not loopback" in refused.stderr and "--token" in refused.stderr
    port = free_port()
    view = view_process(config, "--port", str(port), "--token", "s3cret")
    url = f"http://127.0.0.1:{port}/api/streams"
    wait_until(lambda: _get(url)[0] == 401 or view.proc.poll() is not None, 60,
               "the view server to answer")
    assert _get(url)[0] == 401
    assert _get(url, token="wrong")[0] == 401
    assert _get(url, token="s3cret")[0] == 200
    assert _get(url + "?token=s3cret")[0] == 200


def test_a_pipeline_without_a_view_section_is_told_what_to_add(tmp_path) -> None:
    config = view_config(tmp_path, free_port())
    text = config.read_text()
    config.write_text(text[:text.index("view:")])
    got = subprocess.run(mestream("view", str(config)), cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert got.returncode != 0 and "add a view: section" in got.stderr, got.stderr
