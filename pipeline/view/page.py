"""The live view's one HTML page: a tile per stream (its MJPEG picture and a line of
figures, refreshed from ``/api/streams``) and the event list (Server-Sent Events)."""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__ - live view</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
 header { padding: 8px 14px; background: #1c1c1c; }
 main { display: flex; gap: 14px; padding: 14px; align-items: flex-start; }
 #tiles { display: flex; flex-wrap: wrap; gap: 12px; flex: 3; }
 .tile { background: #1c1c1c; padding: 6px; border-radius: 4px; }
 .tile img { display: block; max-width: 480px; }
 .tile .line { font-size: 12px; color: #aaa; margin-top: 4px; }
 aside { flex: 1; min-width: 300px; }
 #events { list-style: none; padding: 0; margin: 0; max-height: 85vh; overflow-y: auto; }
 #events li { padding: 4px 6px; border-bottom: 1px solid #333; font-size: 12px; }
 #events li.micro { border-left: 4px solid #e44; }
 #events li.macro { border-left: 4px solid #999; }
 .synthetic { color: #c90; }
</style></head>
<body><header><b>__TITLE__</b> live view: boxes red while a face's spotting score is over the
spotter's threshold; the strip under each stream is its score over the last 10 s
(yellow line: threshold; shaded: spotted events).</header>
<main><section id="tiles"></section>
<aside><h3>Events</h3><ul id="events"></ul></aside></main>
<script>
const TOKEN = __TOKEN__;
const q = TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "";
const tiles = document.getElementById("tiles");
function tile(s) {
  let t = document.getElementById("tile-" + s.stream);
  if (!t) {
    t = document.createElement("div"); t.className = "tile"; t.id = "tile-" + s.stream;
    t.dataset.stream = s.stream;
    const img = document.createElement("img"); img.alt = s.stream;
    img.src = "/stream/" + encodeURIComponent(s.stream) + ".mjpg" + q;
    const line = document.createElement("div"); line.className = "line";
    t.append(img, line); tiles.append(t);
  }
  const score = s.score === null ? "-" : s.score.toFixed(3);
  const thr = s.threshold === null ? "-" : s.threshold.toFixed(3);
  t.querySelector(".line").textContent = s.stream + "  faces " + s.faces + "  score " +
    score + " (threshold " + thr + ")  events " + s.events + (s.ended ? "  [ended]" : "");
}
async function refresh() {
  try {
    const r = await fetch("/api/streams" + q);
    if (r.ok) (await r.json()).streams.forEach(tile);
  } catch (e) {}
}
refresh(); setInterval(refresh, 1000);
const list = document.getElementById("events");
const source = new EventSource("/events" + q);
source.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const iv = e.interval || e;
  const li = document.createElement("li");
  const kind = e.kind || "micro";
  li.className = "event " + kind; li.dataset.stream = e.stream;
  const t0 = (iv.onset_ns / 1e9).toFixed(2), t1 = (iv.offset_ns / 1e9).toFixed(2);
  let text = e.stream + "  " + t0 + "-" + t1 + " s  " + kind;
  if (e.label) text += "  " + e.label;
  if (e.aus) text += "  " + Object.entries(e.aus).filter(([k, v]) => v >= 0.5)
      .map(([k]) => k).join("+");
  li.textContent = text;
  if (e.model && e.model.synthetic_weights) {
    const s = document.createElement("span"); s.className = "synthetic";
    s.textContent = "  (synthetic-trained model)"; li.append(s);
  }
  list.prepend(li);
};
</script></body></html>
"""


def page_html(title: str, token: str) -> str:
    """The page, with the title escaped and the token (if any) as a JS string."""
    return (_PAGE.replace("__TITLE__", html.escape(title))
            .replace("__TOKEN__", json.dumps(token).replace("<", "\\u003c")))
