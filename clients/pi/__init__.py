"""Edgeline's device agent (the ``edgeline-agent`` distribution): numpy and onnxruntime only,
Python 3.9 and newer. ``clients/pi/pyproject.toml`` builds it; the version lives here only."""

__version__ = "1.1.0"
