"""Online micro-expression spotting on the aligned faces of one tracked face.

A spotter consumes :class:`FaceFrame` records (pts in ns, the 128 x 128 aligned gray face,
the landmarks in canonical px) one at a time and returns :class:`SpottedInterval` records
once they are final. Every duration is in milliseconds, so one configuration serves 25/30
fps webcams and 100/200 fps lab cameras. Numpy + OpenCV only (never torch).

- :class:`OpticalFlowSpotter` (the default, best measured): dense DIS flow, head motion
  removed, eyes masked, transient-bump contrast per face cell;
- :class:`LBPChiSquareSpotter`: the MEGC LBP chi-square feature-difference baseline;
- :func:`evaluate_spotting`: MEGC F1 at IoU >= 0.5; :mod:`pipeline.spotting.offline` runs
  the production face tracker + aligner over a video or a synthetic scene.
"""

from pipeline.spotting.evaluate import SpottingScore, evaluate_spotting
from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.flow import OpticalFlowSpotter
from pipeline.spotting.interval import SpottedInterval
from pipeline.spotting.lbp import LBPChiSquareSpotter
from pipeline.spotting.spotter import Spotter

__all__ = [
    "FaceFrame",
    "LBPChiSquareSpotter",
    "OpticalFlowSpotter",
    "SpottedInterval",
    "Spotter",
    "SpottingScore",
    "evaluate_spotting",
]
