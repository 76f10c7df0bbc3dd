"""The studio state and the dock models, fed with `Change` objects, without any view.

The state coalesces: however many changes arrive between two flushes, each model hears of
each key once, with its latest value, and a large burst resets instead of moving rows one by
one. Every model shows "n/a" for unknown values and survives a record it cannot read.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QIcon
from pytestqt.qtbot import QtBot

from studio_monitor.protocol import Change
from studio_monitor.protocol.records import (
    AlertRecord,
    AlertSource,
    BackupRecord,
    CameraRecord,
    Destination,
    EventRecord,
    SystemRecord,
    Usage,
    to_value,
)
from studio_monitor.ui.format import NA
from studio_monitor.ui.models import (
    FRACTION_ROLE,
    SORT_ROLE,
    TONE_ROLE,
    AlertsModel,
    BackupsModel,
    CamerasModel,
    EventsModel,
    SystemModel,
    backup_totals,
)
from studio_monitor.ui.state import StudioState

_seq = itertools.count(1)


def put(topic: str, key: str, value: dict[str, Any] | Any, ts: float = 1000.0) -> Change:
    if not isinstance(value, dict):
        value = to_value(value)
    return Change(topic=topic, key=key, seq=next(_seq), op="put", ts=ts, value=value)


def delete(topic: str, key: str) -> Change:
    return Change(topic=topic, key=key, seq=next(_seq), op="delete", ts=1000.0)


def job(**fields: Any) -> BackupRecord:
    base: dict[str, Any] = {
        "event_id": "ev1",
        "destination": Destination(id="nas", label="NAS"),
    }
    base.update(fields)
    return BackupRecord(**base)


@pytest.fixture
def state(qtbot: QtBot) -> StudioState:
    return StudioState(flush_interval_ms=20)


def test_state_coalesces_a_burst_into_one_batch_per_topic(qtbot: QtBot, state: StudioState) -> None:
    batches: list[tuple[str, dict[str, Any]]] = []
    state.recordsChanged.connect(lambda topic, delta: batches.append((topic, delta)))
    changes = [put("camera", f"cam{i % 3}", {"shots_session": i}) for i in range(3000)]
    state.apply_changes(changes[:1500])
    state.apply_changes(changes[1500:])
    assert batches == []  # nothing reaches the models before the flush
    with qtbot.waitSignal(state.flushed, timeout=2000):
        pass
    assert len(batches) == 1
    topic, delta = batches[0]
    assert topic == "camera"
    assert delta == {
        "cam0": {"shots_session": 2997},
        "cam1": {"shots_session": 2998},
        "cam2": {"shots_session": 2999},
    }
    assert state.changes_applied == 3000
    assert not state.flush_timer.isActive()  # idle: no timer runs


def test_state_reset_wins_over_pending_changes(qtbot: QtBot, state: StudioState) -> None:
    resets: list[str] = []
    batches: list[str] = []
    state.topicReset.connect(resets.append)
    state.recordsChanged.connect(lambda topic, delta: batches.append(topic))
    state.apply_changes([put("event", "a", {"name": "A"})])
    state.reset_topic("event", {"b": {"name": "B"}})
    state.apply_changes([put("event", "c", {"name": "C"})])
    state.flush()
    assert resets == ["event"]
    assert batches == []
    assert state.records("event") == {"b": {"name": "B"}, "c": {"name": "C"}}


def test_state_keeps_ten_minutes_of_host_history(state: StudioState) -> None:
    for i in range(0, 900, 15):
        value = {"host": "pc", "cpu_percent": float(i % 100), "sampled_at": 10_000.0 + i}
        state.apply_changes([put("system", "pc", value, ts=10_000.0 + i)])
    history = state.history("pc")
    assert history is not None
    times = [t for t, _v in history.series("cpu_percent")]
    assert times[-1] - times[0] <= 600
    assert times[-1] == 10_885.0
    # A replayed (older) sample does not fold the curve back.
    state.apply_changes([put("system", "pc", {"host": "pc", "sampled_at": 10_500.0})])
    assert history.samples[-1].t == 10_885.0
    state.apply_changes([delete("system", "pc")])
    assert state.history("pc") is None


def test_backups_model_rows_follow_puts_and_deletes(state: StudioState) -> None:
    model = BackupsModel(state, clock=lambda: 2000.0)
    state.reset_topic("event", {"ev1": {"name": "Smith wedding", "date": "2024-06-15"}})
    state.apply_changes(
        [
            put(
                "backup",
                "j1",
                job(
                    state="running",
                    bytes_total=4_000_000_000,
                    bytes_done=1_000_000_000,
                    files_total=400,
                    files_done=100,
                    bytes_per_s=50_000_000,
                    eta_s=60,
                ),
            ),
            put("backup", "j2", job(state="queued")),
        ]
    )
    state.flush()
    assert model.rowCount() == 2
    row = model.row_of("j1")
    assert row is not None
    C = BackupsModel.Col
    assert model.text(row, C.EVENT) == "Smith wedding"
    assert model.text(row, C.DESTINATION) == "NAS"
    assert model.text(row, C.PROGRESS) == "25 %"
    assert model.data(model.index(row, C.PROGRESS), FRACTION_ROLE) == pytest.approx(0.25)
    assert model.text(row, C.FILES) == "100 / 400"
    assert model.text(row, C.SPEED) == "50.0 MB/s"
    assert model.text(row, C.ETA) == "1 min 00 s"
    assert model.data(model.index(row, C.STATE), TONE_ROLE) == "info"
    queued = model.row_of("j2")
    assert queued is not None
    # Nothing known about the queued job's size: n/a, not 0 %.
    assert model.text(queued, C.PROGRESS) == NA
    assert model.text(queued, C.FILES) == f"0 / {NA}"

    changed: list[int] = []
    model.dataChanged.connect(lambda tl, br, roles=(): changed.append(tl.row()))
    state.apply_changes(
        [
            put(
                "backup",
                "j1",
                job(
                    state="failed", error={"code": "io", "message": "disk full", "path": "/mnt/nas"}
                ),
            )
        ]
    )
    state.flush()
    assert changed == [row]
    assert model.text(row, C.ERROR) == "disk full"
    assert model.data(model.index(row, C.ERROR), TONE_ROLE) == "critical"
    assert "/mnt/nas" in model.data(model.index(row, C.ERROR), Qt.ItemDataRole.ToolTipRole)

    state.apply_changes([delete("backup", "j1")])
    state.flush()
    assert model.keys() == ["j2"]
    assert model.row_of("j2") == 0


def test_an_event_rename_refreshes_the_backup_rows(state: StudioState) -> None:
    model = BackupsModel(state)
    state.apply_changes([put("backup", "j1", job())])
    state.flush()
    assert model.text(0, BackupsModel.Col.EVENT) == "ev1"  # no event record yet: its id
    state.apply_changes([put("event", "ev1", {"name": "Jones graduation", "date": "2024-06-15"})])
    state.flush()
    assert model.text(0, BackupsModel.Col.EVENT) == "Jones graduation"


def test_backup_totals_count_today_only() -> None:
    now = time.mktime((2024, 6, 15, 18, 0, 0, 0, 0, -1))
    yesterday = now - 86400
    records = [
        job(state="running", files_done=10),
        job(state="verifying", kind="verify", files_done=99),
        job(state="completed", files_done=200, finished_at=now - 60),
        job(state="completed", files_done=50, finished_at=yesterday),
        job(state="failed", finished_at=now - 30),
        job(state="failed", finished_at=yesterday),
        job(state="cancelled", finished_at=now),
    ]
    totals = backup_totals(records, now)
    assert totals.running == 2
    assert totals.failed_today == 1
    assert totals.done_today == 1
    assert totals.photos_today == 210  # the verify job copies nothing
    assert totals.success_rate == pytest.approx(50.0)
    assert backup_totals([], now).success_rate is None


def test_totals_signal_follows_the_rows(qtbot: QtBot, state: StudioState) -> None:
    model = BackupsModel(state)
    state.apply_changes([put("backup", "j1", job(state="running"))])
    with qtbot.waitSignal(model.totalsChanged, timeout=2000) as blocker:
        pass
    assert blocker.args is not None
    assert blocker.args[0].running == 1


def test_an_invalid_record_gets_a_row_that_says_so(state: StudioState) -> None:
    model = BackupsModel(state)
    state.apply_changes([put("backup", "bad", {"state": "running"})])  # no event_id, no destination
    state.flush()
    assert model.rowCount() == 1
    assert model.text(0, 0) == "invalid record"
    assert model.text(0, BackupsModel.Col.PROGRESS) == NA
    assert "event_id" in model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert model.records() == []


def test_a_large_burst_of_new_rows_resets_once(state: StudioState) -> None:
    model = CamerasModel(state)
    resets: list[bool] = []
    inserts: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    model.rowsInserted.connect(lambda *a: inserts.append(True))
    state.apply_changes(
        [put("camera", f"cam{i}", CameraRecord(model=f"Body {i}")) for i in range(500)]
    )
    state.flush()
    assert (len(resets), len(inserts), model.rowCount()) == (1, 0, 500)
    state.apply_changes([put("camera", "extra", CameraRecord(model="Extra"))])
    state.flush()
    assert (len(resets), len(inserts), model.rowCount()) == (1, 1, 501)


def test_cameras_model_ticks_last_shot_and_decodes_thumbnails(
    qtbot: QtBot, state: StudioState
) -> None:
    import base64

    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(32, 24, QImage.Format.Format_RGB32)
    image.fill(QColor("#336699"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(bytes(data.data())).decode()

    now = [5000.0]
    model = CamerasModel(state, clock=lambda: now[0])
    state.apply_changes(
        [
            put(
                "camera",
                "c1",
                CameraRecord(
                    model="EOS R5",
                    state="shooting",
                    last_shot_at=4990.0,
                    thumbnail=url,
                    battery_percent=15.0,
                ),
            ),
            put(
                "camera",
                "c2",
                CameraRecord(model="Z6", state="offline", thumbnail="data:image/jpeg;base64,!!"),
            ),
        ]
    )
    state.flush()
    model.tick()
    C = CamerasModel.Col
    assert model.text(0, C.LAST_SHOT) == "10 s ago"
    assert model.text(1, C.LAST_SHOT) == NA
    assert model.data(model.index(0, C.STATE), TONE_ROLE) == "ok"
    assert model.data(model.index(1, C.STATE), TONE_ROLE) == "critical"
    assert model.data(model.index(0, C.BATTERY), TONE_ROLE) == "warning"
    assert model.text(1, C.BATTERY) == NA
    thumb = model.data(model.index(0, C.CAMERA), Qt.ItemDataRole.DecorationRole)
    assert isinstance(thumb, QIcon)
    assert not thumb.isNull()
    assert model.data(model.index(1, C.CAMERA), Qt.ItemDataRole.DecorationRole) is None

    ticked: list[int] = []
    model.dataChanged.connect(lambda tl, br, roles=(): ticked.append(tl.column()))
    now[0] = 5060.0
    model.tick()
    assert ticked == [C.LAST_SHOT]
    assert model.text(0, C.LAST_SHOT) == "1 min 10 s ago"


def test_events_model_backup_per_destination(state: StudioState) -> None:
    model = EventsModel(state)
    value = to_value(
        EventRecord(
            name="Smith wedding", date="2024-06-15", state="live", photos=1200, bytes=30_000_000_000
        )
    )
    value["backup"] = {
        "state": "partial",
        "destinations": [
            {"id": "nas", "label": "NAS", "state": "current"},
            {"id": "usb", "label": "USB", "state": "failed"},
        ],
    }
    state.reset_topic(
        "event",
        {"smith": value, "empty": to_value(EventRecord(name="Jones", date="2024-07-01", photos=3))},
    )
    state.flush()
    C = EventsModel.Col
    row = model.row_of("smith")
    assert row is not None
    assert model.text(row, C.BACKUP) == "NAS: current · USB: failed"
    assert model.data(model.index(row, C.BACKUP), TONE_ROLE) == "critical"
    assert model.text(row, C.SIZE) == "30.0 GB"
    other = model.row_of("empty")
    assert other is not None
    # Photos with no backup at all is a warning, even though "none" itself is neutral.
    assert model.text(other, C.BACKUP) == "none"
    assert model.data(model.index(other, C.BACKUP), TONE_ROLE) == "warning"
    assert model.names() == {"smith": "Smith wedding", "empty": "Jones"}


def test_alerts_model_worst_open_and_sorting(state: StudioState) -> None:
    model = AlertsModel(state)

    def alert(severity: str, **fields: Any) -> AlertRecord:
        return AlertRecord(
            severity=severity,
            code="disk_low",
            source=AlertSource(topic="system", key="pc"),  # type: ignore[arg-type]
            message=f"{severity} alert",
            raised_at=fields.pop("raised_at", 100.0),
            **fields,
        )

    state.reset_topic(
        "alert",
        {
            "a": to_value(alert("warning", raised_at=100.0)),
            "b": to_value(alert("critical", raised_at=200.0, cleared_at=300.0)),
            "c": to_value(alert("critical", raised_at=150.0, acked=True)),
            "d": to_value(alert("info", raised_at=50.0)),
        },
    )
    state.flush()
    assert model.worst_open() == "warning"  # the critical one is cleared, the other acked
    assert model.worst_open(include_acked=True) == "critical"
    assert sorted(k for k, _r in model.open_alerts()) == ["a", "c", "d"]
    C = AlertsModel.Col
    assert model.text(model.row_of("b") or 0, C.STATUS) == "cleared"
    assert model.text(model.row_of("c") or 0, C.STATUS) == "acknowledged"
    assert model.text(model.row_of("a") or 0, C.CLEARED) == NA
    assert model.data(model.index(model.row_of("b") or 0, C.SEVERITY), TONE_ROLE) == "neutral"

    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.sort(C.SEVERITY, Qt.SortOrder.DescendingOrder)
    order = [proxy.index(r, C.SEVERITY).data() for r in range(proxy.rowCount())]
    assert order == ["critical", "critical", "warning", "info"]


def test_system_model_thresholds_and_unknowns(state: StudioState) -> None:
    model = SystemModel(state)
    record = SystemRecord(
        host="studio-pc", cpu_percent=99.0, memory=Usage(total=16_000_000_000, percent=50.0)
    )
    value = to_value(record)
    value["disks"] = [
        {"mount": "/", "total": 500_000_000_000, "free": 20_000_000_000, "percent": 96.0},
        {"mount": "/data", "total": 2_000_000_000_000, "free": 1_000_000_000_000, "percent": 50.0},
    ]
    state.reset_topic("system", {"pc": value})
    state.flush()
    C = SystemModel.Col
    assert model.text(0, C.CPU) == "99 %"
    assert model.data(model.index(0, C.CPU), TONE_ROLE) == "critical"
    assert model.text(0, C.MEMORY) == "50 % of 16.0 GB"
    assert model.data(model.index(0, C.MEMORY), TONE_ROLE) is None
    assert model.text(0, C.DISK) == "/: 20.0 GB free"
    assert model.text(0, C.BATTERY) == NA
    assert model.text(0, C.NETWORK) == NA
    assert model.text(0, C.OS) == NA
