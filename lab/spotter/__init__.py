"""Spotter research tools: recall by action unit, face and intensity (``recall``) and
the visibility measurements of lip-corner action units (``visibility``)."""
