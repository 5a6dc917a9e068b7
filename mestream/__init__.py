"""The composition root: the ``mestream`` command line and the demo, the one package that
may import every layer (``engines`` < ``pipeline`` < ``train`` < ``bench`` < here) by
plain import statements. Nothing below imports it; stage processes start through
:mod:`pipeline.runtime.stage_main`, so they load only the runtime."""
