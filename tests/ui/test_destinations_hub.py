"""Destinations from the app to a real hub and back, end to end: the whole app (controller,
window, connection service) against a hub on 127.0.0.1 running its real destination registry,
event catalogue and backup sources. A folder added in Settings > Backups is in the hub's
`destination` topic and in the list; a refusal of the hub is shown in the form as the hub's
sentence with nothing typed lost; an event's choice of destinations goes with `event.update`
and comes back in its record; Start backup on one destination backs up there only; the
photo folders go with hub.configure and survive a restart of both; a WebDAV remote typed in the
form is checked by the hub against rclone's own server (wrong password refused in place); an
upload answered 429 waits in the Backups dock, saying why and until when, and can be cancelled."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtWidgets import QComboBox

from studio_monitor.ui.dialogs.destinations import BackupsSettings, DestinationForm
from studio_monitor.ui.dialogs.settings import SettingsDialog
from studio_monitor.ui.docks.backups import BackupsDock
from studio_monitor.ui.docks.events import EventsDock
from studio_monitor.ui.models import BackupsModel
from tests.support.hub import OPERATOR_TOKEN, auth
from tests.support.qt import run, until
from tests.support.rclone import HttpFaultProxy, RcloneServer, rclone_binary
from tests.ui.rig import AppRig, studio_app


def put_photo(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 5000)


def hub_sources(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {
        "system": {"enabled": False},
        "ingest": {"enabled": False},
        "alerts": {"enabled": False},
        "destinations": {"check_interval_s": 0.1},
        "events": {"library_root": str(tmp_path / "Events"), "scan_interval_s": 0.2},
        "backup": {"chunk_mib": 1, "reserve_mib": 0},
    }


async def hub_records(rig: AppRig, topic: str) -> dict[str, Any]:
    """The topic's records as the hub itself has them (not as the app shows them)."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{rig.hub.url}/api/v1/snapshot", params={"topics": topic}, headers=auth(OPERATOR_TOKEN)
        )
    answer.raise_for_status()
    return {r["key"]: r["value"] for r in answer.json()["records"] if r["topic"] == topic}


async def until_async(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout_s} s")
        await asyncio.sleep(0.05)


def backups_tab(rig: AppRig) -> BackupsSettings:
    rig.controller.open_settings(backups=True)
    dialog = rig.controller.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    assert dialog.backups is not None
    assert dialog.tabs.currentWidget() is dialog.backups
    return dialog.backups


def row_of(panel: BackupsSettings, label: str) -> str | None:
    for key, record in panel.model.records():
        if record.label == label:
            return key
    return None


def test_a_folder_added_in_settings_is_in_the_hub_and_the_list(qloop: Any, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()

    async def scenario() -> None:
        async with studio_app(tmp_path, sources=None, source_config=hub_sources(tmp_path)) as rig:
            await until(lambda: rig.state() == "live", 15)
            panel = backups_tab(rig)

            # A folder that is not there: the hub says why, in the form, which keeps it all.
            form = panel.add()
            assert isinstance(form, DestinationForm)
            form.label.setText("Backup USB")
            gone = tmp_path / "unplugged" / "usb"
            form.folder.setText(str(gone))
            form.upload.setCurrentIndex(form.upload.findData("overnight"))
            form.submit()
            await until(lambda: form.error.isVisibleTo(form), 15)
            assert str(tmp_path / "unplugged") in form.error.text()
            assert form.isVisible()
            assert (form.label.text(), form.folder.text()) == ("Backup USB", str(gone))
            assert form.upload.currentData() == "overnight"
            assert "usb" not in str(await hub_records(rig, "destination"))

            # The real folder: added, in the hub's topic and in the list, ready.
            added: list[dict[str, Any]] = []
            form.accepted.connect(lambda: added.append(form.result_value or {}))
            form.folder.setText(str(usb))
            form.submit()
            await until(lambda: added, 15)
            key = added[0]["destination_id"]
            hub_side: dict[str, Any] = {}

            async def on_hub() -> bool:
                hub_side.update(await hub_records(rig, "destination"))
                return key in hub_side

            await until_async(on_hub, 10)
            assert hub_side[key]["label"] == "Backup USB"
            assert hub_side[key]["target"] == str(usb)
            assert hub_side[key]["upload"] == "overnight"
            await until(lambda: row_of(panel, "Backup USB") == key, 10)
            record = panel.model.record(key)
            assert record is not None
            await until(lambda: (panel.model.record(key) or record).state == "ready", 10)

            # Renamed in place, then removed: both through the hub.
            assert panel.table.select_key(key)
            edit = panel.edit()
            assert edit is not None
            edit.label.setText("Backup USB (blue)")
            changed: list[bool] = []
            edit.accepted.connect(lambda: changed.append(True))
            edit.submit()
            await until(lambda: changed or edit.error.text(), 15)
            assert changed, (edit.error.text(), edit.args())
            await until(lambda: row_of(panel, "Backup USB (blue)") == key, 10)
            assert panel.table.select_key(key)
            panel.remove(confirm=False)
            await until(lambda: row_of(panel, "Backup USB (blue)") is None, 10)
            assert key not in await hub_records(rig, "destination")
            assert usb.is_dir()  # nothing of the folder is touched

    run(qloop, scenario(), 90)


def test_an_event_chooses_its_destinations_and_backs_up_to_one(qloop: Any, tmp_path: Path) -> None:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir()
    nas.mkdir()

    async def scenario() -> None:
        async with studio_app(tmp_path, sources=None, source_config=hub_sources(tmp_path)) as rig:
            await until(lambda: rig.state() == "live", 15)
            commands = rig.controller.commands
            commands.send(
                "destination.add",
                {"label": "USB", "kind": "folder", "path": str(usb), "default": True},
                "add",
            )
            commands.send(
                "destination.add",
                {"label": "NAS", "kind": "share", "path": str(nas), "default": False},
                "add",
            )
            state = rig.controller.state

            def labels() -> set[Any]:
                return {v.get("label") for v in state.records("destination").values()}

            await until(lambda: {"USB", "NAS"} <= labels(), 15)
            ids = {v["label"]: k for k, v in state.records("destination").items()}
            dock = rig.window.docks["events"]
            assert isinstance(dock, EventsDock)

            # New event… with the default set: no `destinations` sent, the hub uses its set.
            dock.new_event.trigger()
            form = dock.dialog
            assert form is not None
            form.name.setText("Gala")
            form.accept()
            await until(lambda: rig.models.events.rowCount() == 1, 15)
            event_id = rig.models.events.key_at(0)

            def destinations_of_event() -> list[str]:
                record = rig.models.events.record(event_id)
                return [d.id for d in record.backup.destinations] if record else []

            await until(lambda: ids["USB"] in destinations_of_event(), 15)
            assert ids["NAS"] not in destinations_of_event()

            # Change…: only the NAS. The choice goes with event.update and comes back.
            assert dock.table.select_key(event_id)
            dock.edit_event.trigger()
            edit = dock.dialog
            assert edit is not None
            assert edit.destinations.use_default.isChecked()
            edit.destinations.use_chosen.setChecked(True)
            for box in edit.destinations.boxes.values():
                box.setChecked(False)
            edit.destinations.boxes[ids["NAS"]].setChecked(True)
            assert edit.args() == {"event_id": event_id, "destinations": [ids["NAS"]]}
            edit.accept()
            await until(lambda: destinations_of_event() == [ids["NAS"]], 15)

            # Photos, then Start backup > NAS from the button's menu: one job, to the NAS.
            record = rig.models.events.record(event_id)
            assert record is not None
            assert record.folder is not None
            await asyncio.to_thread(put_photo, Path(record.folder))
            dock.fill_menu(dock.backup_menu, "backup.start")
            nas_action = next(
                a for a in dock.backup_menu.actions() if a.objectName().endswith(ids["NAS"])
            )
            assert nas_action.text() == "NAS"
            nas_action.trigger()
            await until(
                lambda: any(
                    r.state == "completed" and r.destination.id == ids["NAS"]
                    for _k, r in rig.models.backups.records()
                ),
                30,
            )
            assert all(r.destination.id == ids["NAS"] for _k, r in rig.models.backups.records())
            assert list(usb.rglob("IMG_0001.JPG")) == []
            assert len(list(nas.rglob("IMG_0001.JPG"))) == 1

    run(qloop, scenario(), 120)


def test_photo_folders_go_to_the_hub_and_a_restart_of_both_keeps_them(
    qloop: Any, tmp_path: Path
) -> None:
    library, hot = tmp_path / "Library", tmp_path / "Tether"
    sources = {**hub_sources(tmp_path), "ingest": {"hot_folders": [str(tmp_path / "Hot")]}}

    async def first_run() -> None:
        async with studio_app(tmp_path, sources=None, source_config=sources) as rig:
            await until(lambda: rig.state() == "live", 15)
            await until(lambda: rig.controller.state.record("config", "hub"), 15)
            panel = backups_tab(rig)
            assert panel.library_root.text() == str(tmp_path / "Events")
            assert panel.hot_folders.toPlainText() == str(tmp_path / "Hot")

            # Refused by the hub's own rules: said in place, the text kept.
            panel.library_root.setText(str(library))
            panel.hot_folders.setPlainText(str(library / "Tether"))
            panel.configure_hub()
            await until(lambda: panel.folders_message.isVisibleTo(panel), 20)
            assert panel.folders_message.text() != "The hub uses these folders now."
            assert panel.hot_folders.toPlainText() == str(library / "Tether")

            panel.hot_folders.setPlainText(f"{hot}\n")
            panel.configure_hub()
            await until(
                lambda: panel.folders_message.text() == "The hub uses these folders now.", 30
            )
            record = (await hub_records(rig, "config"))["hub"]
            assert record["library_root"] == str(library)
            assert record["hot_folders"] == [str(hot)]

    async def second_run() -> None:
        # Both the hub (same data folder) and the app (same app folder) start again.
        async with studio_app(tmp_path, sources=None, source_config=sources) as rig:
            await until(lambda: rig.state() == "live", 15)
            await until(
                lambda: (
                    (rig.controller.state.record("config", "hub") or {}).get("library_root")
                    == str(library)
                ),
                15,
            )
            panel = backups_tab(rig)
            assert panel.library_root.text() == str(library)
            assert panel.hot_folders.toPlainText() == str(hot)

    run(qloop, first_run(), 90)
    run(qloop, second_run(), 90)


def test_a_webdav_remote_typed_in_the_form_is_checked_by_the_hub(
    qloop: Any, tmp_path: Path
) -> None:
    rclone_binary()

    async def scenario() -> None:
        async with (
            RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server,
            studio_app(tmp_path, sources=None, source_config=hub_sources(tmp_path)) as rig,
        ):
            await until(lambda: rig.state() == "live", 15)
            panel = backups_tab(rig)
            form = panel.add()
            form.label.setText("Studio cloud")
            form.kind.setCurrentIndex(form.kind.findData("rclone"))
            form.use_new.setChecked(True)
            fields = form.rclone_fields["webdav"]
            fields["url"].setText(server.url.rstrip("/"))  # type: ignore[attr-defined]
            vendor = fields["vendor"]
            assert isinstance(vendor, QComboBox)
            vendor.setCurrentIndex(vendor.findData("rclone"))
            fields["user"].setText(server.fields()["user"])  # type: ignore[attr-defined]
            fields["pass"].setText("not-the-password")  # type: ignore[attr-defined]
            form.rclone_path.setText("Backups")

            # Wrong credentials: the hub's sentence in the form, the fields kept.
            form.submit()
            await until(lambda: form.error.isVisibleTo(form), 60)
            assert "refused the credentials" in form.error.text()
            assert fields["pass"].text() == "not-the-password"  # type: ignore[attr-defined]
            assert not [k for k, r in panel.model.records() if r.kind == "rclone"]

            added: list[dict[str, Any]] = []
            form.accepted.connect(lambda: added.append(form.result_value or {}))
            fields["pass"].setText(server.password)  # type: ignore[attr-defined]
            form.submit()
            await until(lambda: added, 60)
            key = added[0]["destination_id"]
            await until(lambda: panel.model.record(key) is not None, 10)
            record = panel.model.record(key)
            assert record is not None
            assert record.kind == "rclone"
            assert record.rclone is not None
            assert "pass" not in record.rclone  # never published
            assert record.target == f"webdav:{server.url.rstrip('/')}/Backups"
            assert server.password not in str(await hub_records(rig, "destination"))

    run(qloop, scenario(), 120)


def test_a_rate_limited_upload_waits_in_the_backups_dock_and_can_be_cancelled(
    qloop: Any, tmp_path: Path
) -> None:
    rclone_binary()

    async def scenario() -> None:
        async with (
            RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server,
            HttpFaultProxy(server.url, throttle=1000, retry_after=1) as proxy,
            studio_app(tmp_path, sources=None, source_config=hub_sources(tmp_path)) as rig,
        ):
            await until(lambda: rig.state() == "live", 15)
            commands, models = rig.controller.commands, rig.models
            fields = {**server.fields(), "url": proxy.url}
            commands.send(
                "destination.add",
                {"label": "Studio cloud", "kind": "rclone", "rclone": fields, "default": True},
                "add",
            )
            await until(lambda: rig.controller.state.record("destination", "studio-cloud"), 60)
            commands.send(
                "event.create",
                {
                    "name": "Gala",
                    "date": dt.date.today().isoformat(),
                    "destinations": ["studio-cloud"],
                },
                "create",
            )
            await until(lambda: models.events.rowCount() == 1, 15)
            event_id = models.events.key_at(0)
            record = models.events.record(event_id)
            assert record is not None
            assert record.folder is not None
            await asyncio.to_thread(put_photo, Path(record.folder))
            await until(lambda: (models.events.record(event_id) or record).photos == 1, 15)
            dock = rig.window.docks["events"]
            assert isinstance(dock, EventsDock)
            assert dock.table.select_key(event_id)
            dock.backup.trigger()

            # Every PUT answered 429: the job waits, and the dock says why and until when.
            def waiting() -> str | None:
                for key, job in models.backups.records():
                    if job.state == "waiting":
                        return key
                return None

            await until(waiting, 60)
            job_id = waiting()
            assert job_id is not None
            row = models.backups.row_of(job_id)
            assert row is not None
            C = BackupsModel.Col
            assert models.backups.text(row, C.STATE).startswith("waiting, retry at ")
            assert models.backups.text(row, C.ERROR).startswith(
                "waiting: Studio cloud rate limit, retry at "
            )
            backups = rig.window.docks["backups"]
            assert isinstance(backups, BackupsDock)
            assert backups.table.select_key(job_id)
            assert backups.cancel.isEnabled()
            assert not backups.retry.isEnabled()
            backups.cancel.trigger()
            await until(
                lambda: (
                    (job := models.backups.record(job_id)) is not None and job.state == "cancelled"
                ),
                30,
            )
            assert proxy.counts.get("throttled", 0) >= 1

    run(qloop, scenario(), 120)
