"""Studio Monitor: the desktop monitor and hub for photography studios during live events.

The version below is the single source of truth: the package metadata, `--version`, the
About box, the hub's `/health` and the PyInstaller bundles all read it from here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
