"""The classify stage (``stage``) and its helpers: dynamic batches across streams
(``batching``) and clip buffers -> model input tensors as training prepared them
(``clip_tensor``)."""
