"""Inference backends (TensorRT FP16, torch, ONNX Runtime) behind one interface.

Nothing here yet: the engines arrive with issue 7. This package must never import
``pipeline`` or ``train`` (dependencies point one way: train -> pipeline -> engines).
"""
