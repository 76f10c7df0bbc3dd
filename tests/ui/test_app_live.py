"""The app against a real hub: docks follow the hub's records, the status bar follows fallback
and recovery, Reconnect reconnects, and the connection notifications come once per
transition and never for a blip."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from studio_monitor.ui.docks.system import SystemDock
from studio_monitor.ui.notifications import CONNECTION_KEY, Notification
from tests.support.faultproxy import Mode
from tests.support.hub import delete, publish, put
from tests.support.qt import run, until
from tests.ui.rig import FAST, AppRig, studio_app

NOW = time.time()


def camera(**fields: object) -> dict[str, object]:
    value: dict[str, object] = {"model": "Canon EOS R5", "serial": "R5-001", "state": "shooting"}
    value.update(fields)
    return value


async def seed(rig: AppRig) -> None:
    """One record, so the link follows a topic (an empty hub gives a long-poll nothing to
    wait on, and the service then only looks again after the long-poll's wait)."""
    await publish(rig.hub.url, [put("camera", "r5", camera())])
    await until(lambda: rig.models.cameras.rowCount() == 1, 10, what="the seed record")


def test_docks_show_the_hubs_records_and_follow_changes(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            await publish(
                rig.hub.url,
                [
                    put(
                        "event",
                        "smith",
                        {
                            "name": "Smith wedding",
                            "date": "2024-06-15",
                            "state": "live",
                            "photos": 3,
                        },
                    ),
                    put(
                        "camera",
                        "r5",
                        camera(event_id="smith", shots_session=12, last_shot_at=NOW - 5),
                    ),
                    put(
                        "system",
                        "studio-pc",
                        {
                            "host": "studio-pc",
                            "os": "Linux",
                            "cpu_percent": 12.5,
                            "memory": {
                                "total": 16_000_000_000,
                                "used": 4_000_000_000,
                                "percent": 25.0,
                            },
                            "disks": [
                                {
                                    "mount": "/",
                                    "total": 500_000_000_000,
                                    "free": 100_000_000_000,
                                    "used": 400_000_000_000,
                                    "percent": 80.0,
                                }
                            ],
                            "sampled_at": NOW,
                        },
                    ),
                    put(
                        "backup",
                        "job1",
                        {
                            "event_id": "smith",
                            "destination": {"id": "nas", "label": "NAS"},
                            "state": "running",
                            "files_total": 10,
                            "files_done": 4,
                            "bytes_total": 1000,
                            "bytes_done": 400,
                        },
                    ),
                    put(
                        "alert",
                        "a1",
                        {
                            "severity": "warning",
                            "code": "disk_low",
                            "source": {"topic": "system", "key": "studio-pc"},
                            "message": "/ is nearly full",
                            "raised_at": NOW,
                        },
                    ),
                ],
            )
            models = rig.models
            await until(
                lambda: models.alerts.rowCount() == 1 and models.backups.rowCount() == 1,
                10,
                what="records",
            )
            cams = rig.window.docks["cameras"]
            table = cams.table  # type: ignore[attr-defined]
            await until(lambda: table.model().rowCount() == 1, 5)
            assert table.model().index(0, 0).data() == "Canon EOS R5"
            assert models.cameras.text(0, models.cameras.Col.EVENT) == "Smith wedding"
            assert models.backups.text(0, models.backups.Col.PROGRESS) == "40 %"
            system = rig.window.docks["system"]
            assert isinstance(system, SystemDock)
            await until(lambda: "studio-pc" in system.cards, 5)
            card = system.cards["studio-pc"]
            assert card.title.text() == "studio-pc"
            assert card.cpu.value.text() == "12 %"
            assert card.battery.text() == "n/a"  # no battery in the record: nothing invented

            # A change flows to the open window; a delete removes the row.
            await publish(
                rig.hub.url, [put("camera", "r5", camera(state="silent", shots_session=13))]
            )
            await until(lambda: models.cameras.text(0, models.cameras.Col.STATE) == "silent", 5)
            assert models.cameras.text(0, models.cameras.Col.SHOTS) == "13"
            await publish(
                rig.hub.url,
                [
                    put(
                        "system",
                        "studio-pc",
                        {"host": "studio-pc", "cpu_percent": 55.0, "sampled_at": NOW + 2},
                    )
                ],
            )
            await until(lambda: card.cpu.value.text() == "55 %", 5)
            await publish(rig.hub.url, [delete("backup", "job1")])
            await until(lambda: models.backups.rowCount() == 0, 5)
            # The tray follows the worst open alert.
            assert rig.controller.tray.state == "warning"

            # The connection panel: the session's states, counters and availability.
            rig.window.show_connection_panel()
            panel = rig.window.panel
            assert panel is not None
            await until(lambda: panel.facts["Transport"].text() == "websocket", 5, what="panel")
            assert panel.words.text() == "Live"
            assert panel.availability.text().endswith("of the session with data flowing")
            assert int(panel.counters["Messages"].text().replace(",", "")) > 0
            assert [s for _a, _b, s in rig.controller.history.segments()][-1] == "live"
            panel.close()

    run(qloop, scenario(), 60)


def test_a_burst_of_changes_repaints_at_a_bounded_rate(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            resets = []
            rig.models.cameras.modelReset.connect(lambda: resets.append(1))
            flushes_before = rig.controller.state.flushes
            started = time.monotonic()
            for batch in range(10):
                changes = [
                    put("camera", f"c{i % 20}", camera(shots_session=batch * 200 + i))
                    for i in range(200)
                ]
                await publish(rig.hub.url, changes)
            await until(
                lambda: rig.controller.state.changes_applied >= 2000,
                20,
                what="2,000 changes applied",
            )
            await until(lambda: not rig.controller.state.pending(), 5)
            elapsed = time.monotonic() - started
            flushes = rig.controller.state.flushes - flushes_before
            assert rig.models.cameras.rowCount() == 20
            # At most about ten flushes a second, however many changes arrived.
            assert flushes <= elapsed * 10 + 3, (flushes, elapsed)
            last = {
                rig.models.cameras.key_at(r): rig.models.cameras.text(
                    r, rig.models.cameras.Col.SHOTS
                )
                for r in range(20)
            }
            assert last["c19"] == "1,999"

    run(qloop, scenario(), 90)


def test_status_bar_follows_fallback_and_recovery_and_notifies_once(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            notes: list[Notification] = []
            rig.controller.bridge.posted.connect(notes.append)
            status = rig.window.status
            await until(lambda: status.words() == "Live", 15, what="Live in the status bar")
            await seed(rig)
            assert status.indicator.dot.tone == "ok"

            # The WebSocket is refused (a proxy) and the open one cut: long-poll, then one notice.
            await rig.proxy.set_mode(Mode.REFUSE_WS, drop_websockets=True)
            await until(
                lambda: status.words() in ("Long-poll",) or status.words().startswith("Polling"),
                15,
                what="fallback shown",
            )
            assert status.indicator.dot.tone == "warning"
            await until(
                lambda: any(n.key == CONNECTION_KEY for n in notes),
                FAST.blip_grace_s + 5,
                what="fallback notice",
            )
            fallback = [n for n in notes if n.key == CONNECTION_KEY]
            assert len(fallback) == 1
            assert fallback[0].title == "Connection degraded"
            assert rig.window.banner.isVisible() or rig.window.banner.note is not None

            # WebSocket allowed again: back to Live, and one "Back live".
            await rig.proxy.set_mode(Mode.PASS)
            await until(lambda: status.words() == "Live", 20, what="back to Live")
            await until(
                lambda: len([n for n in notes if n.key == CONNECTION_KEY]) == 2,
                5,
                what="live notice",
            )
            assert [n.title for n in notes if n.key == CONNECTION_KEY] == [
                "Connection degraded",
                "Back live",
            ]

            # The hub unreachable: Offline with a countdown, stale data marked.
            await rig.proxy.set_mode(Mode.CUT)
            await until(lambda: status.words().startswith("Offline"), 15, what="offline")
            assert status.indicator.dot.tone == "critical"
            await until(lambda: "stale" in status.age.text(), 5, what="stale marked")
            assert rig.controller.tray.state == "offline"
            await until(
                lambda: any(n.title == "Hub offline" for n in notes),
                FAST.blip_grace_s + 5,
                what="offline notice",
            )
            await rig.proxy.set_mode(Mode.PASS)
            await until(lambda: status.words() == "Live", 20, what="live after the hub is back")
            titles = [n.title for n in notes if n.key == CONNECTION_KEY]
            assert titles == ["Connection degraded", "Back live", "Hub offline", "Back live"]

    run(qloop, scenario(), 100)


def test_no_notification_for_a_blip(qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            await asyncio.sleep(FAST.start_grace_s + 0.2)  # past the start-up grace
            notes: list[Notification] = []
            rig.controller.bridge.posted.connect(notes.append)
            # The WebSocket drops once; reconnection succeeds at once (a blip).
            await rig.proxy.set_mode(Mode.PASS, drop_websockets=True)
            await until(
                lambda: rig.service.status().counters.reconnects >= 1 or rig.state() != "live", 10
            )
            await until(lambda: rig.state() == "live", 10, what="live again")
            await asyncio.sleep(FAST.blip_grace_s + 1.0)
            assert [n for n in notes if n.key == CONNECTION_KEY] == []

    run(qloop, scenario(), 60)


class _SlowRetries(random.Random):
    """Full-jitter backoff that always draws the longest delay, so only Reconnect is fast."""

    def random(self) -> float:
        return 0.999

    def uniform(self, a: float, b: float) -> float:
        return b


def test_reconnect_button_reconnects_at_once(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    from dataclasses import replace

    slow = replace(FAST, retry_initial_s=30.0, retry_cap_s=30.0)

    async def scenario() -> None:
        async with studio_app(tmp_path, config=slow, rng=_SlowRetries()) as rig:
            status = rig.window.status
            await until(lambda: rig.state() == "live", 15, what="live")
            await seed(rig)
            await rig.proxy.set_mode(Mode.CUT)
            await until(lambda: rig.state() == "offline", 15, what="offline")
            await until(
                lambda: (rig.service.status().next_retry_s or 0) > 10, 5, what="a long backoff"
            )
            await until(lambda: "retrying in" in status.words(), 5, what="the countdown shown")
            await rig.proxy.set_mode(Mode.PASS)
            await asyncio.sleep(0.5)
            assert rig.state() == "offline"  # the backoff still waits
            started = time.monotonic()
            status.reconnect.click()
            await until(lambda: rig.state() == "live", 10, what="live after Reconnect")
            assert time.monotonic() - started < 10

    run(qloop, scenario(), 60)


@pytest.mark.parametrize("action", ["tray", "menu"])
def test_reconnect_from_tray_and_menu(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path, action: str
) -> None:
    from dataclasses import replace

    slow = replace(FAST, retry_initial_s=30.0, retry_cap_s=30.0)

    async def scenario() -> None:
        async with studio_app(tmp_path, config=slow, rng=_SlowRetries()) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            await seed(rig)
            await rig.proxy.set_mode(Mode.CUT)
            await until(lambda: rig.state() == "offline", 15, what="offline")
            await rig.proxy.set_mode(Mode.PASS)
            if action == "tray":
                rig.controller.tray.reconnect.trigger()
            else:
                rig.window.reconnect_action.trigger()
            await until(lambda: rig.state() == "live", 10, what="live after Reconnect now")

    run(qloop, scenario(), 60)
