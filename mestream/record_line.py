"""One published record as one line of text, for people watching a pipeline: what
``mestream subscribe``, ``mestream run --tail`` and the demo print.

Example:
    >>> record_line({"stream": "cam-1", "type": "end_of_stream", "seq": 9,
    ...              "pts_ns": 300_000_000, "reason": "end-of-file"})
    'cam-1            end_of_stream    seq=9       pts=     300.0ms  end-of-file'
"""

from __future__ import annotations

from typing import Any

from pipeline.event_record import interval_of


def record_line(r: dict[str, Any]) -> str:
    """``r`` as one line: stream, type, seq, pts and what matters of its kind."""
    kind = r.get("type", "?")
    pts_ms = r.get("pts_ns", 0) / 1e6
    extra = r.get("reason") or r.get("label") or r.get("shapes", {}).get("image", "")
    if kind == "event":
        iv = interval_of(r)
        span = "" if iv is None else f"{iv[0] / 1e6:.0f}-{iv[2] / 1e6:.0f} ms"
        model = r.get("model", {})
        aus = r.get("aus") or {}
        present = "+".join(a for a, p in aus.items() if p >= 0.5)
        extra = (f"{r.get('label') or 'spotted'} {r.get('kind') or ''} {span} "
                 f"score={r.get('spot_score') or r.get('score')}"
                 + (f" aus={present or '-'}" if aus else "")
                 + (f" [{model.get('arch')}, weights: {model.get('trained_on')}]"
                    if model else ""))
    if kind == "face":
        q = r.get("quality", {})
        extra = f"track={r.get('track')} box={r.get('box')} score={q.get('score')}"
    return f"{r.get('stream', '?'):<16} {kind:<16} seq={r.get('seq', 0):<7} " \
           f"pts={pts_ms:10.1f}ms  {extra}"
