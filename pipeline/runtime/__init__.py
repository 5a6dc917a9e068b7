"""The runtime every stage runs on: the stage base class and its loop (``stage``), the
supervisor that starts, watches and restarts stage processes (``supervisor``) and the
control messages between them (``control``), ZeroMQ sockets made in one place
(``sockets``) with CURVE keys (``keys``), the wire format of what flows between stages
(``wire``), the shared-memory frame ring (``frame_ring``) and Prometheus metrics
(``metrics``). Stages themselves live in :mod:`pipeline.stages`."""
