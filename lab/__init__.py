"""The lab: analysis tools of past research rounds, kept runnable (``python -m lab...``)
but not part of the product. Nothing in ``mestream``, ``bench``, ``pipeline``,
``engines`` or ``train`` imports it; it may import any of them. Conclusions live in the
product's docs (pipeline/spotting/README.md, pipeline/weights/README.md)."""
