"""Backup destinations in the app, on records shaped as docs/destinations.md says: the list in
Settings > Backups, the add/change form for each kind (what it sends, what it refuses before
sending, the hub's refusal shown in place with nothing lost), the per-event choice, the Events
dock's destination menus and states, waiting jobs in the Backups dock, the first-run test."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from studio_monitor.link.status import OutboxEntry
from studio_monitor.platform.notify import NullNotifier
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.dialogs.destinations import BackupsSettings, DestinationForm
from studio_monitor.ui.dialogs.forms import DestinationChoice, NewEventDialog
from studio_monitor.ui.docks.events import EventsDock
from studio_monitor.ui.models import TONE_ROLE, BackupsModel, EventsModel
from studio_monitor.ui.models.destinations import DestinationsModel, only_this_disk
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState

NOW = time.time()


def destination(label: str, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "label": label,
        "kind": "folder",
        "target": f"/media/{label}",
        "upload": "live",
        "default": True,
        "connected": True,
        "volume": {"name": label, "id": "1234-ABCD"},
        "free": 812_000_000_000,
        "total": 1_000_000_000_000,
        "independent": True,
        "state": "ready",
        "message": None,
        "retry_at": None,
        "checked_at": NOW - 5,
    }
    value.update(fields)
    return value


DESTINATIONS: dict[str, dict[str, Any]] = {
    "this-disk": destination(
        "This disk",
        target="/home/studio/Pictures/Studio Monitor/Backups",
        independent=False,
        default=False,
        upload="manual",
        volume={"name": "System", "id": None},
    ),
    "usb": destination("Backup USB"),
    "drive": destination(
        "Google Drive",
        kind="rclone",
        target="gdrive:Studio Backups",
        upload="overnight",
        volume=None,
        free=None,
        total=None,
        state="waiting",
        message="Google Drive rate limit: tried again later",
        retry_at=NOW + 600,
    ),
    "nas": destination("Studio NAS", kind="share", connected=False, state="missing"),
}


class Service(QObject):
    """What `CommandCenter` needs of the connection service: commands are recorded, and the
    test answers each one as the hub would (`answer`)."""

    commandUpdated = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def send_command(self, name: str, args: dict[str, Any]) -> str:
        command_id = f"c{len(self.sent) + 1}"
        self.sent.append((command_id, name, args))
        return command_id

    def answer(
        self, *, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None:
        command_id, name, args = self.sent[-1]
        self.commandUpdated.emit(
            OutboxEntry(
                id=command_id,
                name=name,
                args=args,
                status="failed" if error else "done",
                result=result,
                error=error,
                created_at=NOW,
            )
        )


@pytest.fixture
def studio(qtbot: QtBot) -> tuple[StudioState, CommandCenter, Service]:
    state = StudioState(flush_interval_ms=5)
    bridge = NotificationBridge(NullNotifier())
    commands = CommandCenter(bridge, state)
    service = Service()
    commands.set_service(service)
    state.reset_topic("destination", DESTINATIONS)
    state.reset_topic("config", {"hub": {"library_root": "/tmp", "hot_folders": ["/tmp/hot"]}})
    state.flush()
    return state, commands, service


def test_the_list_says_what_each_destination_is_and_how_it_is(
    studio: tuple[StudioState, CommandCenter, Service],
) -> None:
    state, _commands, _service = studio
    model = DestinationsModel(state)
    C = DestinationsModel.Col
    rows = {model.key_at(r): r for r in range(model.rowCount())}
    usb, drive, nas, here = rows["usb"], rows["drive"], rows["nas"], rows["this-disk"]
    assert model.text(usb, C.LABEL) == "Backup USB"
    assert model.text(usb, C.KIND) == "Drive folder"
    assert model.text(usb, C.VOLUME) == "Backup USB"
    assert model.text(usb, C.FREE) == "812 GB of 1.00 TB"
    assert model.text(usb, C.CONNECTED) == "yes"
    assert model.text(usb, C.UPLOAD) == "As photos arrive"
    assert model.text(usb, C.DEFAULT) == "yes"
    assert model.text(usb, C.STATE) == "ready"
    assert model.data(model.index(usb, C.STATE), TONE_ROLE) == "ok"
    assert model.text(drive, C.KIND) == "Cloud (rclone)"
    assert model.text(drive, C.TARGET) == "gdrive:Studio Backups"
    assert model.text(drive, C.UPLOAD) == "Overnight"
    assert model.text(drive, C.STATE).startswith("waiting, retry at ")
    tip = model.data(model.index(drive, C.STATE), Qt.ItemDataRole.ToolTipRole)
    assert "Google Drive rate limit" in tip  # the hub's own sentence
    assert model.text(nas, C.KIND) == "Network share"
    assert model.text(nas, C.CONNECTED) == "not connected"
    assert model.text(nas, C.STATE) == "missing"
    assert model.text(here, C.LABEL) == "This disk (same disk)"
    assert model.data(model.index(here, C.LABEL), TONE_ROLE) == "warning"
    assert model.default_set() == ["usb", "drive", "nas"]

    # Only this disk: the first-run prompt's test; unknown devices do not count as "only".
    assert not only_this_disk(DESTINATIONS)
    assert only_this_disk({"this-disk": DESTINATIONS["this-disk"]})
    assert not only_this_disk({"x": destination("X", independent=None)})
    assert not only_this_disk({})


def test_the_form_sends_each_kind_as_the_contract_says(
    qtbot: QtBot, studio: tuple[StudioState, CommandCenter, Service], tmp_path: Path
) -> None:
    _state, commands, service = studio
    form = DestinationForm(commands, library_root=str(tmp_path))
    qtbot.addWidget(form)
    form.submit()
    assert form.error.text() == "Give the destination a name."
    assert service.sent == []  # nothing goes to the hub until the form is complete

    form.label.setText("  Backup USB ")
    form.submit()
    assert form.error.text() == "Choose the folder on the drive."
    folder = tmp_path / "usb"
    folder.mkdir()
    form.folder.setText(str(folder))
    # The drive as this PC sees it, and a warning: it is the library's own disk here.
    assert form.folder_info.text().startswith("On ")
    assert "same disk as the photos" in form.folder_info.text()
    form.upload.setCurrentIndex(form.upload.findData("overnight"))
    assert form.args() == {
        "kind": "folder",
        "label": "Backup USB",
        "path": str(folder),
        "upload": "overnight",
        "default": True,
    }

    form.kind.setCurrentIndex(form.kind.findData("share"))
    form.share.setText(r"\\nas\photos")
    assert form.args()["path"] == r"\\nas\photos"
    assert form.args()["kind"] == "share"

    form.kind.setCurrentIndex(form.kind.findData("rclone"))
    assert form.use_existing.isChecked()
    form.remote.setText("gdrive")
    assert form.problem() == "Type the remote as name:folder, e.g. gdrive:Studio Backups."
    form.remote.setText("gdrive:Studio Backups")
    assert form.args()["remote"] == "gdrive:Studio Backups"
    assert "rclone" not in form.args()

    form.use_new.setChecked(True)
    assert form.problem() == "Fill in the URL."
    fields = form.rclone_fields["webdav"]
    fields["url"].setText("http://127.0.0.1:8080")  # type: ignore[attr-defined]
    fields["user"].setText("studio")  # type: ignore[attr-defined]
    fields["pass"].setText(" secret ")  # type: ignore[attr-defined]
    form.rclone_path.setText("Backups")
    args = form.args()
    assert args["kind"] == "rclone"
    assert "remote" not in args
    assert args["rclone"] == {
        "type": "webdav",
        "url": "http://127.0.0.1:8080",
        "vendor": "other",
        "user": "studio",
        "pass": " secret ",  # a password is sent as typed
        "path": "Backups",
    }
    form.rclone_type.setCurrentIndex(form.rclone_type.findData("sftp"))
    assert form.problem() == "Fill in the Host."
    form.rclone_fields["sftp"]["host"].setText("nas.lan")  # type: ignore[attr-defined]
    assert form.args()["rclone"]["port"] == "22"
    assert form.args()["rclone"]["type"] == "sftp"


def test_a_refusal_is_shown_in_the_form_and_nothing_typed_is_lost(
    qtbot: QtBot, studio: tuple[StudioState, CommandCenter, Service], tmp_path: Path
) -> None:
    _state, commands, service = studio
    form = DestinationForm(commands)
    qtbot.addWidget(form)
    form.show()
    form.label.setText("Backup USB")
    form.folder.setText(str(tmp_path / "gone" / "usb"))
    form.submit()
    assert [name for _id, name, _args in service.sent] == ["destination.add"]
    assert form.progress.isVisible()
    assert not form.buttons.button(form.buttons.StandardButton.Ok).isEnabled()
    sentence = f"{tmp_path}/gone does not exist: is the drive connected?"
    service.answer(error={"code": "conflict", "message": sentence})
    assert form.error.text() == sentence
    assert form.isVisible()
    assert form.result() != QDialog.DialogCode.Accepted
    assert form.label.text() == "Backup USB"
    assert form.folder.text() == str(tmp_path / "gone" / "usb")
    assert form.buttons.button(form.buttons.StandardButton.Ok).isEnabled()
    # No banner for it: the form said it.
    assert not [n for n in commands.bridge.current() if n.key.startswith("command:")]

    form.folder.setText(str(tmp_path))
    form.submit()
    service.answer(result={"destination_id": "backup-usb"})
    assert form.result() == QDialog.DialogCode.Accepted
    assert form.result_value == {"destination_id": "backup-usb"}


def test_change_sends_only_what_changed_and_remove_asks_the_hub(
    qtbot: QtBot, studio: tuple[StudioState, CommandCenter, Service]
) -> None:
    state, commands, service = studio
    panel = BackupsSettings(state, commands)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.table.select_key("usb")
    form = panel.edit()
    assert form is not None
    assert not form.kind.isEnabled()
    assert form.folder.text() == "/media/Backup USB"
    form.label.setText("Backup USB 2")
    form.default.setChecked(False)
    assert form.args() == {"destination_id": "usb", "label": "Backup USB 2", "default": False}
    form.submit()
    assert service.sent[-1][1:] == ("destination.update", form.args())
    service.answer(result={"destination_id": "usb"})
    assert form.result() == QDialog.DialogCode.Accepted

    # An rclone remote configured by the hub: its secrets were never published, so a change
    # of its settings asks for them again; a rename alone does not.
    configured = destination(
        "Studio cloud",
        kind="rclone",
        target="webdav:https://dav.example/Backups",
        rclone={"type": "webdav", "url": "https://dav.example", "vendor": "other", "user": "s"},
    )
    state.reset_topic("destination", {**DESTINATIONS, "cloud": configured})
    state.flush()
    assert panel.table.select_key("cloud")
    cloud = panel.edit()
    assert cloud is not None
    assert cloud.use_new.isChecked()
    assert cloud.rclone_fields["webdav"]["url"].text() == "https://dav.example"  # type: ignore[attr-defined]
    cloud.label.setText("Studio cloud 2")
    assert cloud.problem() is None
    assert cloud.args() == {"destination_id": "cloud", "label": "Studio cloud 2"}
    cloud.rclone_fields["webdav"]["url"].setText("https://dav2.example")  # type: ignore[attr-defined]
    assert "Type the password or secret key again" in (cloud.problem() or "")
    cloud.rclone_fields["webdav"]["pass"].setText("pw")  # type: ignore[attr-defined]
    assert cloud.problem() is None
    assert cloud.args()["rclone"] == {
        "type": "webdav",
        "url": "https://dav2.example",
        "vendor": "other",
        "user": "s",
        "pass": "pw",
    }
    cloud.reject()
    assert panel.table.select_key("drive")
    panel.remove(confirm=False)
    assert service.sent[-1][1:] == ("destination.remove", {"destination_id": "drive"})
    service.answer(error={"code": "conflict", "message": "a backup job to Google Drive runs"})
    assert panel.message.text() == "a backup job to Google Drive runs"

    # Photo folders go to the hub with hub.configure.
    assert panel.library_root.text() == "/tmp"
    assert panel.hot_folders.toPlainText() == "/tmp/hot"
    panel.hot_folders.setPlainText("/tmp/hot\n\n  /tmp/hot2 \n")
    # The hub publishes its record again meanwhile: what is being typed stays.
    state.reset_topic("config", {"hub": {"library_root": "/tmp", "hot_folders": ["/tmp/x"]}})
    state.flush()
    assert panel.hot_folders.toPlainText() == "/tmp/hot\n\n  /tmp/hot2 \n"
    panel.configure_hub()
    assert service.sent[-1][1:] == (
        "hub.configure",
        {"library_root": "/tmp", "hot_folders": ["/tmp/hot", "/tmp/hot2"]},
    )
    service.answer(error={"code": "bad_request", "message": "hot_folders: /tmp/hot2 overlaps"})
    assert panel.folders_message.text() == "hot_folders: /tmp/hot2 overlaps"
    assert panel.hot_folders.toPlainText() == "/tmp/hot\n\n  /tmp/hot2 \n"
    panel.hot_folders.setPlainText("/tmp/hot")
    panel.configure_hub()
    service.answer(result={"library_root": "/tmp", "hot_folders": ["/tmp/hot"], "restarted": []})
    assert panel.folders_message.text() == "The hub uses these folders now."
    # Untouched since, the form follows the hub's record again.
    state.reset_topic("config", {"hub": {"library_root": "/srv", "hot_folders": ["/srv/hot"]}})
    state.flush()
    assert panel.library_root.text() == "/srv"


def test_only_this_disk_is_said_in_the_section(
    qtbot: QtBot, studio: tuple[StudioState, CommandCenter, Service]
) -> None:
    state, commands, _service = studio
    panel = BackupsSettings(state, commands)
    qtbot.addWidget(panel)
    assert not panel.only_here.text()
    state.reset_topic("destination", {"this-disk": DESTINATIONS["this-disk"]})
    state.flush()
    assert "only to this disk" in panel.only_here.text()


def test_an_event_chooses_its_destinations(qtbot: QtBot) -> None:
    choices = [
        DestinationChoice("usb", "Backup USB", True),
        DestinationChoice("drive", "Google Drive", True),
        DestinationChoice("nas", "Studio NAS", False),
    ]
    new = NewEventDialog(destinations=choices)
    qtbot.addWidget(new)
    new.name.setText("Smith wedding")
    assert "Backup USB, Google Drive" in new.destinations.use_default.text()
    assert "destinations" not in new.args()  # the default set: the hub's own choice
    new.destinations.use_chosen.setChecked(True)
    new.destinations.boxes["drive"].setChecked(False)
    new.destinations.boxes["nas"].setChecked(True)
    assert new.args()["destinations"] == ["usb", "nas"]
    for box in new.destinations.boxes.values():
        box.setChecked(False)
    assert new.problem() == "Choose at least one destination, or the default set."

    edit = NewEventDialog(
        destinations=choices, event_id="e1", name="Gala", date="2026-12-05", chosen=None
    )
    qtbot.addWidget(edit)
    assert edit.args() == {"event_id": "e1"}  # nothing changed
    edit.destinations.use_chosen.setChecked(True)
    edit.destinations.boxes["drive"].setChecked(False)
    assert edit.args() == {"event_id": "e1", "destinations": ["usb"]}
    back = NewEventDialog(destinations=choices, event_id="e1", name="Gala", chosen=["nas"])
    qtbot.addWidget(back)
    assert back.destinations.boxes["nas"].isChecked()
    assert not back.destinations.boxes["usb"].isChecked()
    back.destinations.use_default.setChecked(True)
    assert back.args()["destinations"] is None


def event(**backup: Any) -> dict[str, Any]:
    return {
        "name": "Gala",
        "date": "2026-12-05",
        "state": "live",
        "folder": "/photos/Gala",
        "photos": 130,
        "bytes": 3_000_000_000,
        "safe": 120,
        "safety": "unsafe",
        "backup": {"state": "partial", "destinations": backup.pop("destinations")},
        **backup,
    }


def test_the_events_dock_shows_and_acts_on_each_destination(
    qtbot: QtBot, studio: tuple[StudioState, CommandCenter, Service]
) -> None:
    state, commands, service = studio
    model = EventsModel(state)
    dock = EventsDock(model, commands)
    qtbot.addWidget(dock)
    gala = event(
        destinations=[
            {
                "id": "usb",
                "label": "Backup USB",
                "kind": "folder",
                "state": "partial",
                "verified": 120,
                "independent": True,
                "connected": True,
            },
            {
                "id": "drive",
                "label": "Google Drive",
                "kind": "rclone",
                "state": "none",
                "independent": True,
                "message": "Google Drive rate limit",
                "retry_at": NOW + 600,
            },
            {"id": "nas", "label": "Studio NAS", "state": "none", "connected": False},
        ],
        time_to_safe={"last_s": 9.0, "p50_s": 8.2, "p95_s": 24.4, "samples": 120},
    )
    state.reset_topic("event", {"gala": gala})
    state.flush()
    C = EventsModel.Col
    text = model.text(0, C.BACKUP)
    assert text.startswith("Backup USB: partial, 120 verified · Google Drive: none, waiting until ")
    assert text.endswith("Studio NAS: none, not connected")
    tip = model.data(model.index(0, C.BACKUP), Qt.ItemDataRole.ToolTipRole)
    assert "Google Drive rate limit" in tip
    assert "this-disk" not in tip
    # Named as the registry names it: a rename there shows at once; never an id.
    renamed = {**DESTINATIONS, "nas": destination("Studio NAS (2nd floor)", kind="share")}
    state.reset_topic("destination", renamed)
    state.flush()
    assert model.text(0, C.BACKUP).endswith("Studio NAS (2nd floor): none, not connected")
    tip = model.data(model.index(0, C.BACKUP), Qt.ItemDataRole.ToolTipRole)
    assert "Studio NAS (2nd floor): none, last completed" in tip
    state.reset_topic("destination", DESTINATIONS)
    state.flush()
    assert model.text(0, C.TIME_TO_SAFE) == "p95 24 s"
    assert "median 8 s" in model.data(model.index(0, C.TIME_TO_SAFE), Qt.ItemDataRole.ToolTipRole)

    assert dock.table.select_key("gala")
    dock.fill_menu(dock.backup_menu, "backup.start")
    names = [a.text() for a in dock.backup_menu.actions() if not a.isSeparator()]
    assert names == ["Every destination of the event", "Backup USB", "Google Drive", "Studio NAS"]
    next(a for a in dock.backup_menu.actions() if a.text() == "Google Drive").trigger()
    assert service.sent[-1][1:] == ("backup.start", {"event_id": "gala", "destination_id": "drive"})
    dock.fill_menu(dock.verify_menu, "backup.verify")
    dock.verify_menu.actions()[0].trigger()
    assert service.sent[-1][1:] == ("backup.verify", {"event_id": "gala"})

    # The event's choice as the edit form reads it: usb+drive+nas is the default set.
    edit = dock.edit_dialog()
    assert edit is not None
    qtbot.addWidget(edit)
    assert edit.destinations.use_default.isChecked()
    edit.destinations.use_chosen.setChecked(True)
    edit.destinations.boxes["nas"].setChecked(False)
    assert edit.args() == {"event_id": "gala", "destinations": ["usb", "drive"]}


def test_a_waiting_job_says_why_and_when(
    studio: tuple[StudioState, CommandCenter, Service],
) -> None:
    state, _commands, _service = studio
    model = BackupsModel(state)
    job = {
        "event_id": "gala",
        "destination": {"id": "drive", "label": "Google Drive"},
        "kind": "copy",
        "state": "waiting",
        "files_total": 130,
        "files_done": 40,
        "bytes_total": 3_000_000_000,
        "bytes_done": 900_000_000,
        "bytes_per_s": None,
        "retry_at": NOW + 600,
        "trigger": "overnight",
        "error": {"code": "rate_limited", "message": "waiting: Google Drive rate limit"},
    }
    state.reset_topic("backup", {"j1": job})
    state.flush()
    C = BackupsModel.Col
    assert model.text(0, C.STATE).startswith("waiting, retry at ")
    assert model.data(model.index(0, C.STATE), TONE_ROLE) == "warning"
    assert model.text(0, C.ERROR) == "waiting: Google Drive rate limit"
    assert model.text(0, C.PROGRESS) == "30 %"
    tip = model.data(model.index(0, C.STATE), Qt.ItemDataRole.ToolTipRole)
    assert "Waiting: waiting: Google Drive rate limit; tried again at" in tip
    assert "overnight" in tip
