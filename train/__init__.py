"""Training side (owns torch): the papers' models, dataset readers, protocols, training,
ONNX export. The runtime (``pipeline``, ``engines``) never imports this package."""
