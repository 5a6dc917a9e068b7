"""Classify: clips from every stream in, one event per clip out, in dynamic batches.

Clips wait in a :class:`~pipeline.stages.classify.batching.DynamicBatcher` until
``max_batch`` of them are there or the oldest has waited ``max_delay_ms``; then one
engine call (``engines/``: TensorRT, torch or ONNX Runtime) classifies the whole batch,
whatever streams its clips came from, and the results are split back into one event per
clip. Each event names the model and says when its weights were trained on synthetic
data.

A model with an ``au_logits`` output (MicroExpAUNet) also scores the clip's action units:
events carry ``aus`` (AU -> probability) and ``label_from_aus``, the class the label
set's AU rules give (:mod:`pipeline.recognition.au_rules`); ``label`` is the class head's
unless the model's ``mestream.label_source`` metadata says ``aus``. ``intensity`` is
there only when the model's metadata says its intensity head was trained
(``mestream.intensity_trained``): an untrained head's number never reaches an event.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import messages
from pipeline.config import ClassifySettings, PipelineConfig
from pipeline.recognition.au_rules import label_set_of, present_aus, rule_class
from pipeline.recognition.classifier_contract import classifier_problems
from pipeline.runtime import wire
from pipeline.runtime.stage import Stage
from pipeline.runtime.wire import Message
from pipeline.stages.classify.batching import DynamicBatcher
from pipeline.stages.classify.clip_tensor import model_input


@dataclass(slots=True)
class PendingClip:
    clip: messages.Clip
    arrived_unix_ns: int


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def serving_alignment(config: PipelineConfig, stage: str) -> tuple[str, str] | None:
    """(name, ``alignment.stabilise``) of the align stage feeding ``stage``, or None."""
    name = config.upstream(stage)
    while name is not None:
        cfg = config.stages[name]
        if cfg.type == "align":
            return name, cfg.alignment.stabilise
        name = config.upstream(name)
    return None


def alignment_mismatch(preparation: dict[str, Any], served: tuple[str, str] | None
                       ) -> str | None:
    """A warning when the model's training clips were stabilised differently from the
    faces this pipeline aligns (the model's ``mestream.preparation``): a 3D-CNN trained on
    clips registered to their first frame (``hold``) sees the residual jitter of a
    ``one_euro`` alignment as motion, so its classes may be less reliable than its test
    figures say (on the synthetic CASME II set the bundled STCNN's LOSO accuracy went
    from 0.550 on hold clips to 0.529 on one_euro ones: small there, but unmeasured on
    real footage)."""
    trained = preparation.get("stabilise")
    if not trained or served is None or served[1] == trained:
        return None
    return (f"the model's training clips were aligned with stabilise: {trained}; stage "
            f"{served[0]!r} aligns with stabilise: {served[1]}: its class scores may differ "
            f"from its test figures (measure it: python -m train.prep_shift RECIPE --set "
            f"preparation.stabilise={served[1]}; or set {served[0]}.alignment.stabilise: "
            f"{trained} where the spotter allows it)")


class ClassifyStage(Stage[ClassifySettings]):
    def setup(self) -> None:
        from engines.auto import open_engine
        from engines.errors import EngineLoadError

        s = self.settings
        where = f"stages.{self.ctx.name}.model"
        try:
            self.engine = open_engine(Path(s.model), backend=s.backend,
                                      max_batch=s.max_batch, intra_op_threads=s.threads)
        except EngineLoadError as exc:  # not a model, or one this backend cannot run
            raise ValueError(f"{where}: {exc}") from None
        problems = classifier_problems(self.engine.inputs, self.engine.outputs,
                                       self.engine.metadata)
        if problems:  # fail now, with the path, not in the first batch
            raise ValueError(f"{where}: {s.model} cannot classify clips: "
                             + "; ".join(problems))
        meta = self.engine.metadata
        self.labels: list[str] = json.loads(meta.get("mestream.labels", "[]"))
        self.normalisation: dict[str, Any] = json.loads(
            meta.get("mestream.normalisation", "{}") or "{}")
        self.trained_on = meta.get("mestream.trained_on", "unknown")
        self.aus: list[str] = json.loads(meta.get("mestream.aus", "[]") or "[]")
        self.label_set = meta.get("mestream.label_set") or label_set_of(self.labels)
        self.label_source = meta.get("mestream.label_source", "head")
        self.intensity_trained = meta.get("mestream.intensity_trained") == "true"
        preparation = json.loads(meta.get("mestream.preparation", "{}") or "{}")
        self.reference = str(preparation.get("reference", "none"))
        mismatch = alignment_mismatch(preparation, serving_alignment(self.ctx.config,
                                                                     self.ctx.name))
        if mismatch:
            self.log.warning("%s", mismatch)
        self.model_info = {
            "id": Path(s.model).name, "arch": meta.get("mestream.arch", "?"),
            "backend": self.engine.backend, "precision": self.engine.precision,
            "trained_on": self.trained_on,
            "synthetic_weights": "synthetic" in self.trained_on.lower(),
            "label_set": self.label_set, "label_source": self.label_source,
        }
        self.shapes = {name: tuple(d for d in spec.shape[1:])
                       for name, spec in self.engine.inputs.items()}
        self.batcher: DynamicBatcher[PendingClip] = DynamicBatcher(s.max_batch,
                                                                   s.max_delay_ms)
        self.log.info("%s; label set %s, labels %s%s; weights trained on %s",
                      self.engine.describe(), self.label_set or "?", self.labels,
                      f", action units {self.aus}" if self.aus else "", self.trained_on)

    def process(self, msg: Message) -> Iterable[Message]:
        if msg.kind != wire.CLIP:  # spotting events and track states pass through
            return (msg,) if msg.kind in (wire.EVENT, wire.TRACK) else ()
        self.batcher.add(PendingClip(messages.Clip.from_message(msg), time.time_ns()))
        return self._flush(force=False)

    def hold(self, stream: str) -> int | None:
        """The first source frame of the oldest clip of ``stream`` still waiting."""
        firsts = [p.clip.first_seq for p in self.batcher.items()
                  if p.clip.stream == stream and p.clip.first_seq is not None]
        return min(firsts) if firsts else None

    def reset_stream(self, stream: str) -> None:
        self.batcher.remove(lambda p: p.clip.stream == stream)

    def next_tick_s(self) -> float | None:
        return self.batcher.next_deadline_s()

    def tick(self) -> Iterable[Message]:
        return self._flush(force=False)

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        # Everything of this stream that waits goes now, before its end-of-stream.
        out = list(self._flush(force=True))
        return [*out, msg]

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()

    def _flush(self, force: bool) -> list[Message]:
        out: list[Message] = []
        while len(self.batcher) and (force or self.batcher.ready()):
            waited_ms = self.batcher.waited_s() * 1000.0
            batch = self.batcher.pop()
            self.ctx.metrics.observe("batch_size", len(batch))
            out += self._classify(batch, waited_ms)
        self._queue_depth()
        return out

    def _queue_depth(self) -> None:
        """Clips waiting for a batch, per stream (a gauge for monitoring)."""
        waiting = Counter(p.clip.stream for p in self.batcher.items())
        for stream in self.ctx.config.expected_streams(self.ctx.name, self.ctx.replica):
            self.ctx.metrics.gauge("queue_depth", stream, waiting.get(stream, 0))

    def _classify(self, batch: list[PendingClip], waited_ms: float) -> list[Message]:
        inputs = {name: np.stack([model_input(name, shape, p.clip.buffers, self.normalisation,
                                              self.reference) for p in batch])
                  for name, shape in self.shapes.items()}
        t0 = time.perf_counter()
        outputs = self.engine.infer(inputs)
        infer_ms = (time.perf_counter() - t0) * 1000.0
        done_unix_ns = time.time_ns()
        logits = outputs.get("logits", outputs.get("label"))
        if logits is None:
            raise RuntimeError(f"model outputs {sorted(outputs)} have no logits/label")
        probs = softmax(logits.astype(np.float64))
        intensity = outputs.get("intensity") if self.intensity_trained else None
        au_logits = outputs.get("au_logits") if self.aus else None
        au_probs = (None if au_logits is None
                    else 1.0 / (1.0 + np.exp(-au_logits.astype(np.float64))))
        events = []
        for i, pending in enumerate(batch):
            m = pending.clip
            k = int(np.argmax(probs[i]))
            names = self.labels or [str(j) for j in range(probs.shape[1])]
            label = names[k] if k < len(names) else str(k)
            aus, from_aus = None, None
            if au_probs is not None:
                aus = {a: round(float(v), 4) for a, v in zip(self.aus, au_probs[i],
                                                             strict=False)}
                if self.label_set:
                    from_aus = rule_class(self.label_set, present_aus(aus))
                if self.label_source == "aus" and from_aus is not None:
                    label = from_aus
            classification = messages.Classification(
                label, {n: round(float(p), 4) for n, p in zip(names, probs[i], strict=False)},
                aus, from_aus,
                (None if intensity is None else
                 [round(float(v), 4) for v in np.atleast_1d(intensity[i])]),
                self.model_info,
                {"offset_to_clip": m.after_offset_ms, "batch_wait": round(waited_ms, 2),
                 "infer": round(infer_ms, 2), "batch_size": len(batch)},
                pending.arrived_unix_ns, done_unix_ns)
            events.append(messages.Event(m.stream, m.seq, m.pts_ns, m.track, m.span,
                                         classification,
                                         spot_emit_unix_ns=m.spot_emit_unix_ns).to_message())
        return events
