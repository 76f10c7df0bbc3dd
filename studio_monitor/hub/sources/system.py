"""The system source: this PC's health (psutil) every 2 s, as `system/<host_id>` (PROTOCOL.md 5).

What a studio needs at a glance: CPU, memory, swap, every real disk (the one the photos land
on must not fill up), network rates, the battery of a laptop, and the hub process itself.
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
import platform
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import psutil

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.sources.base import Publisher, Source
from studio_monitor.protocol import PublishChange
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

TOPIC: Final = "system"
HOST_ID_FILE: Final = "host_id"
DEFAULT_INTERVAL_S: Final = 2.0
#: Pseudo and read-only image file systems: not disks anyone needs to watch fill up.
_SKIP_FSTYPES: Final = frozenset(
    {"squashfs", "tmpfs", "devtmpfs", "ramfs", "autofs", "iso9660", "udf", "proc", "sysfs"}
)

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
    ) -> None:
        self.host_id = host_id
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
        self._last_net: tuple[float, int, int] | None = None

    async def run(self, publisher: Publisher) -> None:
        next_at = self._monotonic()
        while True:
            try:
                record = await asyncio.to_thread(self.sample)
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

    def sample(self) -> SystemRecord:
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
            disks=_disks(),
            net=self._net(),
            battery=self._read_battery(),
            hub=hub,
            sampled_at=self._clock(),
        )

    def _net(self) -> NetRates:
        try:
            # Typed as always present, but None on a machine with no interface at all.
            counters: Any = psutil.net_io_counters()
        except Exception:
            return NetRates()
        if counters is None:
            return NetRates()
        now = self._monotonic()
        last = self._last_net
        self._last_net = (now, counters.bytes_sent, counters.bytes_recv)
        if last is None:
            return NetRates()
        elapsed = now - last[0]
        sent, recv = counters.bytes_sent - last[1], counters.bytes_recv - last[2]
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


def _disks() -> list[Disk]:
    try:
        partitions = psutil.disk_partitions(all=False)
    except Exception:
        return []
    disks: list[Disk] = []
    seen: set[str] = set()
    for part in partitions:
        if part.fstype in _SKIP_FSTYPES or "cdrom" in part.opts:
            continue
        # The same device mounted twice (bind mounts, snaps) is one disk.
        ident = part.device or part.mountpoint
        if ident in seen:
            continue
        seen.add(ident)
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except (OSError, RuntimeError):
            disks.append(Disk(mount=part.mountpoint))
            continue
        disks.append(
            Disk(
                mount=part.mountpoint,
                total=int(usage.total),
                used=int(usage.used),
                free=int(usage.free),
                percent=_pct(usage.percent),
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
    return SystemSource(host_id_for(config.data_dir), interval_s=float(interval), clients=clients)


__all__ = ["SystemSource", "from_config", "host_id_for", "make_host_id"]
