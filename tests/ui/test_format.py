"""The formatters: unknown stays "n/a", units read as a person expects."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QLocale

from studio_monitor.ui.format import (
    NA,
    fmt_ago,
    fmt_bytes,
    fmt_count,
    fmt_date,
    fmt_duration,
    fmt_eta,
    fmt_interval,
    fmt_ms,
    fmt_percent,
    fmt_rate,
    fmt_time,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, NA),
        (-1, NA),
        (float("nan"), NA),
        (True, NA),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.00 kB"),
        (1_234_567, "1.23 MB"),
        (45_600_000_000, "45.6 GB"),
        (512_000_000_000, "512 GB"),
    ],
)
def test_bytes(value: float | None, text: str) -> None:
    assert fmt_bytes(value) == text


def test_rate_percent_count() -> None:
    assert fmt_rate(2_500_000) == "2.50 MB/s"
    assert fmt_rate(None) == NA
    assert fmt_percent(42.4) == "42 %"
    assert fmt_percent(None) == NA
    assert fmt_count(12345) == "12,345"
    assert fmt_count(None) == NA


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, NA),
        (0, "0 s"),
        (8.4, "8 s"),
        (245, "4 min 05 s"),
        (7800, "2 h 10 min"),
        (3 * 86400 + 4 * 3600, "3 d 4 h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_ago_eta_interval_ms() -> None:
    assert fmt_ago(None, 100.0) == NA
    assert fmt_ago(100.0, 100.5) == "just now"
    assert fmt_ago(200.0, 100.0) == "just now"  # a fast clock elsewhere
    assert fmt_ago(100.0, 112.0) == "12 s ago"
    assert fmt_eta(0) == "done"
    assert fmt_eta(None) == NA
    assert fmt_interval(3) == "3 s"
    assert fmt_interval(4.5) == "4.5 s"
    assert fmt_interval(90) == "1 min 30 s"
    assert fmt_ms(12.3) == "12 ms"
    assert fmt_ms(1400) == "1.4 s"
    assert fmt_ms(None) == NA


def test_time_today_other_day_other_year() -> None:
    now = time.mktime((2024, 6, 15, 14, 0, 0, 0, 0, -1))
    today = time.mktime((2024, 6, 15, 9, 5, 31, 0, 0, -1))
    earlier = time.mktime((2024, 3, 3, 14, 5, 0, 0, 0, -1))
    last_year = time.mktime((2023, 3, 3, 14, 5, 0, 0, 0, -1))
    assert fmt_time(today, now) == "09:05:31"
    assert fmt_time(earlier, now) == "3 Mar 14:05"
    assert fmt_time(last_year, now) == "3 Mar 2023 14:05"
    assert fmt_time(None, now) == NA
    assert fmt_time(1e20, now) == NA


def test_numbers_follow_the_locale() -> None:
    QLocale.setDefault(QLocale("id_ID"))
    try:
        assert fmt_count(1234567) == "1.234.567"
        assert fmt_bytes(1_234_567) == "1,23 MB"
        assert fmt_rate(45_600_000) == "45,6 MB/s"
        assert fmt_percent(42.45, 1) == "42,5 %"
        assert fmt_interval(4.5) == "4,5 s"
        assert fmt_date("2026-08-17") == "17 Agu 2026"
        when = time.mktime((2024, 8, 3, 14, 5, 0, 0, 0, -1))
        now = time.mktime((2024, 9, 15, 14, 0, 0, 0, 0, -1))
        assert fmt_time(when, now) == "3 Agu 14:05"
    finally:
        QLocale.setDefault(QLocale("en_US"))
    assert fmt_count(1234567) == "1,234,567"
    assert fmt_date("2026-08-17") == "17 Aug 2026"
    assert fmt_date("soon") == "soon"
