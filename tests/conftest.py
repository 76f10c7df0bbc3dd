"""Fixtures shared by every test package: the qasync loop (`qloop`, see tests/support/qt.py)."""

from tests.support.qt import qloop

__all__ = ["qloop"]
