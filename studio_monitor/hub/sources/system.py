"""The system source: this PC's health (psutil) every 2 s, as `system/<host_id>` (PROTOCOL.md 5).

What a studio needs at a glance: CPU, memory, swap, the disks that matter (the system disk
and, by path, those holding the library, each backup destination and the hub's data: the one
the photos land on must not fill up), network rates of the real network cards (loopback and
virtual interfaces left out: the hub talking to the app on 127.0.0.1 is not network
traffic), the battery of a laptop, and the hub process itself. Disks are measured at their
folders (`shutil.disk_usage`), so they are shown even where psutil lists no partition (a
container); another user's mount that holds nothing of the studio's is not shown.
Anything the platform cannot tell is `null`, never a guess: the first sample has no CPU
percentage or network rate yet (they need two readings), a desktop has no battery, and
`sensors_battery()` is wrapped because it can raise on some machines.

`host_id` is stable per machine: derived once from the host name and the OS machine id, then
kept in the data folder, so renaming the PC does not fork its history. Sampling runs in a
worker thread: a hung network mount must not freeze the hub's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import platform
import re
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import psutil

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.sources import paths as default_paths
from studio_monitor.hub.sources.base import Publisher, Source
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import EVENT_TOPIC, SYSTEM_TOPIC
from studio_monitor.protocol.records import (
    Battery,
    Disk,
    HubStats,
    NetRates,
    SystemRecord,
    Usage,
    to_value,
)

log = logging.getLogger(__name__)

TOPIC: Final = SYSTEM_TOPIC
HOST_ID_FILE: Final = "host_id"
DEFAULT_INTERVAL_S: Final = 2.0
#: Pseudo and read-only image file systems: not disks anyone needs to watch fill up.
_SKIP_FSTYPES: Final = frozenset(
    {"squashfs", "tmpfs", "devtmpfs", "ramfs", "autofs", "iso9660", "udf", "proc", "sysfs"}
)
#: Interfaces that carry no traffic to or from the network: loopback, and the virtual
#: bridges and pairs of containers and VMs (their traffic is counted again on the real card).
_VIRTUAL_NIC_PREFIXES: Final = (
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "vboxnet",
    "vmnet",
    "cni",
    "flannel",
    "cali",
    "kube",
    "ifb",
    "dummy",
    "loopback pseudo-interface",
)
#: Order of the kinds of folder a disk may hold, as shown.
HOLDS_ORDER: Final = ("system", "library", "backup", "hub")

BatteryProbe = Callable[[], Any]


def _machine_id() -> str | None:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(candidate).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text:
            return text
    node = uuid.getnode()
    # getnode() sets the multicast bit when it had to make a random number up.
    if not (node >> 40) & 1:
        return f"{node:012x}"
    return None


def make_host_id(hostname: str, machine_id: str | None) -> str:
    """`<host name slug>-<8 hex>`; the hex comes from the machine id (random without one)."""
    slug = re.sub(r"[^a-z0-9]+", "-", hostname.lower()).strip("-")[:40] or "host"
    seed = machine_id if machine_id else uuid.uuid4().hex
    return f"{slug}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def host_id_for(data_dir: Path, hostname: str | None = None) -> str:
    """This machine's id, read from `<data_dir>/host_id` or created there."""
    path = data_dir / HOST_ID_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except OSError:
        existing = ""
    if existing:
        return existing
    host_id = make_host_id(hostname or socket.gethostname(), _machine_id())
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(host_id + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("cannot keep the host id in %s (%s); it may change", path, exc)
    return host_id


def _pct(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


class SystemSource(Source):
    """Publishes `system/<host_id>` every `interval_s` seconds."""

    name = "system"

    def __init__(
        self,
        host_id: str,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clients: Callable[[], int] | None = None,
        battery: BatteryProbe = psutil.sensors_battery,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        hostname: str | None = None,
        hub_process: psutil.Process | None = None,
        folders: Mapping[str, Iterable[Path]] | None = None,
    ) -> None:
        self.host_id = host_id
        #: The folders whose disks are shown, by kind ("library", "backup", "hub"); the
        #: event records add each event's folder and destinations as they come.
        self.folders: dict[str, list[Path]] = {k: list(v) for k, v in (folders or {}).items()}
        self.interval_s = interval_s
        self._clients = clients
        self._battery = battery
        self._clock = clock
        self._monotonic = monotonic
        self._hostname = hostname or socket.gethostname()
        # The hub's own process, when this source runs inside the hub (not in an agent).
        self._process = (
            hub_process
            if hub_process is not None
            else (psutil.Process() if clients is not None else None)
        )
        self._primed = False
        self._last_net: tuple[float, dict[str, tuple[int, int]]] | None = None

    async def run(self, publisher: Publisher) -> None:
        next_at = self._monotonic()
        while True:
            try:
                folders = self._folders_of(publisher.records(EVENT_TOPIC))
                record = await asyncio.to_thread(self.sample, folders)
                await publisher.publish(
                    [PublishChange(topic=TOPIC, key=self.host_id, op="put", value=to_value(record))]
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("system sample failed; trying again in %.1f s", self.interval_s)
            next_at += self.interval_s
            now = self._monotonic()
            if next_at < now:  # fell behind (suspend, slow disk): do not burst to catch up
                next_at = now + self.interval_s
            await asyncio.sleep(next_at - now)

    def _folders_of(self, events: Mapping[str, Any]) -> dict[str, list[Path]]:
        """The configured folders plus each event's folder and backup destinations."""
        folders = {kind: list(paths) for kind, paths in self.folders.items()}
        for event in events.values():
            if not isinstance(event, Mapping):
                continue
            folder = event.get("folder")
            if isinstance(folder, str) and folder:
                folders.setdefault("library", []).append(Path(folder))
            backup = event.get("backup")
            listed = backup.get("destinations") if isinstance(backup, Mapping) else None
            for dest in listed if isinstance(listed, list) else []:
                path = dest.get("path") if isinstance(dest, Mapping) else None
                if isinstance(path, str) and path:
                    folders.setdefault("backup", []).append(Path(path))
        return folders

    def sample(self, folders: Mapping[str, Iterable[Path]] | None = None) -> SystemRecord:
        """One reading. CPU and network figures are None until a previous reading exists."""
        primed = self._primed
        self._primed = True
        cpu = psutil.cpu_percent(interval=None)
        hub = self._hub_stats(primed)
        return SystemRecord(
            host=self._hostname,
            os=_os_name(),
            boot_time=_safe(psutil.boot_time),
            cpu_percent=_pct(cpu) if primed else None,
            cpu_count=_safe(psutil.cpu_count),
            memory=_usage(psutil.virtual_memory),
            swap=_usage(psutil.swap_memory),
            disks=disks_for(self.folders if folders is None else folders),
            net=self._net(),
            battery=self._read_battery(),
            hub=hub,
            sampled_at=self._clock(),
        )

    def _net(self) -> NetRates:
        try:
            per_nic: Any = psutil.net_io_counters(pernic=True)
        except Exception:
            return NetRates()
        if not per_nic:
            return NetRates()
        loopback = _loopback_nics()
        counters = {
            name: (c.bytes_sent, c.bytes_recv)
            for name, c in per_nic.items()
            if name not in loopback and not is_virtual_nic(name)
        }
        now = self._monotonic()
        last = self._last_net
        self._last_net = (now, counters)
        if last is None:
            return NetRates()
        elapsed = now - last[0]
        # Only cards present at both readings: one plugged in meanwhile has no rate yet.
        common = counters.keys() & last[1].keys()
        sent = sum(counters[n][0] - last[1][n][0] for n in common)
        recv = sum(counters[n][1] - last[1][n][1] for n in common)
        if elapsed <= 0 or sent < 0 or recv < 0:  # counters reset (interface gone, wrap)
            return NetRates()
        return NetRates(sent_bps=round(sent / elapsed, 1), recv_bps=round(recv / elapsed, 1))

    def _read_battery(self) -> Battery | None:
        try:
            battery = self._battery()
        except Exception as exc:
            log.debug("battery probe failed: %s", exc)
            return None
        if battery is None:
            return None
        secs = getattr(battery, "secsleft", None)
        if (
            not isinstance(secs, int | float)
            or secs < 0
            or secs
            in (
                psutil.POWER_TIME_UNLIMITED,
                psutil.POWER_TIME_UNKNOWN,
            )
        ):
            secs = None
        plugged = getattr(battery, "power_plugged", None)
        percent = getattr(battery, "percent", None)
        return Battery(
            percent=_pct(percent) if isinstance(percent, int | float) else None,
            plugged=plugged if isinstance(plugged, bool) else None,
            secs_left=float(secs) if secs is not None else None,
        )

    def _hub_stats(self, primed: bool) -> HubStats | None:
        if self._process is None:
            return None
        try:
            with self._process.oneshot():
                rss = self._process.memory_info().rss
                cpu = self._process.cpu_percent(interval=None)
        except psutil.Error:
            return HubStats(clients=self._count_clients())
        return HubStats(
            rss=int(rss), cpu_percent=_pct(cpu) if primed else None, clients=self._count_clients()
        )

    def _count_clients(self) -> int | None:
        if self._clients is None:
            return None
        try:
            return int(self._clients())
        except Exception:
            return None


def _safe(probe: Callable[[], Any]) -> Any:
    try:
        return probe()
    except Exception:
        return None


def _os_name() -> str | None:
    try:
        system, release = platform.system(), platform.release()
    except Exception:
        return None
    if not system:
        return None
    return f"{system} {release}".strip()


def _usage(probe: Callable[[], Any]) -> Usage | None:
    try:
        reading = probe()
    except Exception:
        return None
    return Usage(total=int(reading.total), used=int(reading.used), percent=_pct(reading.percent))


def is_virtual_nic(name: str) -> bool:
    """Loopback or a virtual interface by its name (the flags say it better, where known)."""
    return name.lower().startswith(_VIRTUAL_NIC_PREFIXES)


def _loopback_nics() -> set[str]:
    try:
        stats = psutil.net_if_stats()
    except Exception:
        return set()
    return {name for name, st in stats.items() if "loopback" in getattr(st, "flags", "")}


def system_folder() -> Path:
    """The system disk's root: `C:\\` (the system drive) on Windows, `/` elsewhere."""
    if sys.platform == "win32":
        return Path(os.environ.get("SYSTEMDRIVE", "C:") + "\\")
    else:  # an else: mypy --platform win32 then sees no unreachable code
        return Path("/")


def _existing(path: Path) -> Path | None:
    """`path`, or its nearest existing parent (a destination not created yet lies on the
    disk of its parent)."""
    for candidate in (path, *path.parents):
        try:
            if candidate.exists():
                return candidate
        except OSError:
            continue
    return None


def _mount_points() -> list[str]:
    try:
        partitions = psutil.disk_partitions(all=True)
    except Exception:
        return []
    return [p.mountpoint for p in partitions if p.fstype not in _SKIP_FSTYPES]


def _mount_of(path: Path, mounts: list[str]) -> str | None:
    text = str(path)
    best: str | None = None
    for mount in mounts:
        inside = text == mount or mount == "/" or text.startswith(mount.rstrip("/\\") + os.sep)
        if inside and (best is None or len(mount) > len(best)):
            best = mount
    return best


def _same_device(path: str, device: object) -> bool:
    try:
        return os.stat(path).st_dev == device
    except OSError:
        return False


def disks_for(folders: Mapping[str, Iterable[Path]]) -> list[Disk]:
    """One `Disk` per device that holds the system or one of `folders` (kind -> paths),
    measured at the folder itself, so no partition list is needed."""
    wanted: list[tuple[str, Path]] = [("system", system_folder())]
    for kind in HOLDS_ORDER:
        wanted += [(kind, Path(p)) for p in folders.get(kind, ())]
    mounts = _mount_points()
    by_device: dict[object, dict[str, Any]] = {}
    for kind, folder in wanted:
        existing = _existing(folder)
        if existing is None:
            continue
        try:
            device: object = os.stat(existing).st_dev
        except OSError:
            device = str(existing)
        entry = by_device.get(device)
        if entry is None:
            mount = _mount_of(existing, mounts) if kind != "system" else str(existing)
            if mount is not None and not _same_device(mount, device):
                mount = None  # a mount psutil does not list (tmpfs, a container's volume)
            entry = by_device[device] = {
                "mount": mount or str(existing),
                "at": existing,
                "holds": [],
                "paths": [],
            }
        if kind not in entry["holds"]:
            entry["holds"].append(kind)
        if kind != "system" and str(folder) not in entry["paths"]:
            entry["paths"].append(str(folder))
    disks: list[Disk] = []
    for entry in by_device.values():
        holds = sorted(entry["holds"], key=HOLDS_ORDER.index)
        try:
            usage = shutil.disk_usage(entry["at"])
        except OSError:
            disks.append(Disk(mount=entry["mount"], holds=holds, paths=entry["paths"]))
            continue
        used = usage.total - usage.free
        disks.append(
            Disk(
                mount=entry["mount"],
                total=int(usage.total),
                used=int(used),
                free=int(usage.free),
                percent=_pct(100.0 * used / usage.total) if usage.total else None,
                holds=holds,
                paths=entry["paths"],
            )
        )
    return disks


def from_config(
    section: Mapping[str, Any],
    config: HubConfig,
    *,
    clients: Callable[[], int] | None = None,
) -> SystemSource:
    """`[sources.system]`: `interval_s` (default 2, at least 0.5)."""
    unknown = sorted(set(section) - {"interval_s"})
    if unknown:
        raise ConfigError(f"[sources.system]: unknown setting(s) {', '.join(unknown)}")
    interval = section.get("interval_s", DEFAULT_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0.5:
        raise ConfigError("[sources.system] interval_s must be a number of seconds, at least 0.5")
    return SystemSource(
        host_id_for(config.data_dir),
        interval_s=float(interval),
        clients=clients,
        folders=configured_folders(config),
    )


def configured_folders(config: HubConfig) -> dict[str, list[Path]]:
    """The hub's data folder, the library root and the destinations of the events source's
    settings (or their defaults); each event's own folders come with its record."""
    events = config.sources.get("events", {})
    root = events.get("library_root") if isinstance(events, Mapping) else None
    library = Path(root).expanduser() if isinstance(root, str) else None
    backups: list[Path] = []
    listed = events.get("destinations") if isinstance(events, Mapping) else None
    if isinstance(listed, list):
        for item in listed:
            path = item.get("path") if isinstance(item, Mapping) else None
            if isinstance(path, str) and path:
                backups.append(Path(path).expanduser())
    else:
        backups.append(default_paths.default_backup_dir())
    return {
        "hub": [config.data_dir],
        "library": [library or default_paths.default_library_root()],
        "backup": backups,
    }


__all__ = ["SystemSource", "from_config", "host_id_for", "make_host_id"]
