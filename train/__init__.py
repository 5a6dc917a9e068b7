"""Training side (owns torch): models, dataset readers, protocols, ONNX export.

Nothing here yet: the models and readers arrive with issue 5.
"""
