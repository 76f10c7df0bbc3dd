"""Probes of the machine the app runs on, each behind a small interface with a null implementation.

Power, network, notifications, the OS keyring and autostart differ per platform and may be
missing altogether (no battery, no keyring backend, no tray). Each module here defines the
interface, the real implementation, a null one that reports "unknown" or "not available",
and one factory that picks between them, so callers never test for the platform themselves.
"""
