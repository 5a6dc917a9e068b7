"""The spot stage (``stage``) and its helper: the time-based clip windows it cuts
(``windowing``; training cuts its clips through the same code)."""
