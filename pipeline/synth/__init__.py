"""Synthetic micro-expression footage on real faces, with exact ground truth.

Numpy + OpenCV only (no torch): the demo's camera uses it. Everything it makes is
synthetic and labelled as such (``GroundTruth.note``).
"""
