"""mestream's runtime: config, wire protocol, stages, supervisor, sources, client.

Never imports torch (a test checks): the runtime installs and runs without it.
"""

__version__ = "0.1.0"
