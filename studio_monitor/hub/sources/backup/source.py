"""The `backup` source: runs backup jobs for the hub and publishes `backup/<job_id>` records.

Commands (PROTOCOL.md section 6) create jobs: `backup.start` copies an event's folder to one
or all of its destinations, `backup.verify` re-reads what is there, `backup.cancel` stops a
job between two chunks. A job answers as soon as it exists (queued); it runs on a worker
thread (`BackupEngine`), at most `max_parallel` at a time, and its progress reaches the hub
through an outbox that keeps only the latest value of each record, so a slow publish never
piles up stale progress. Event folders and destinations come from the `event` records
(`publisher.records("event")`), which the event catalogue publishes with each destination's
path. Jobs are rows of the manifest: a hub that was killed resumes its unfinished jobs at the
next start under the same ids; a hub that is shut down leaves them unfinished on purpose, for
the same reason. The topic's `active` flag is up while any job is queued or running.

Jobs also start by themselves (`_live_loop`, the rules in schedule.py): while an event is
live, each destination whose cadence is `live` gets the photos as they are filed, batched
for a moment, one job at a time per event and destination; `overnight` destinations get the
day's photos from 22:00. Such a job records its `trigger`, and when its drive is not
connected it does not fail: it is `waiting` (with `retry_at` and the reason in `error`)
until the drive is back, then goes on by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from studio_monitor.errors import ConfigError, HubError, ProtocolError
from studio_monitor.hub.sources.backup.cloud import (
    CloudEngine,
    CloudSettings,
    RemoteWatch,
    hub_watch,
)
from studio_monitor.hub.sources.backup.engine import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_FILES_IN_FLIGHT,
    DEFAULT_RESERVE_BYTES,
    MIB,
    PROGRESS_FIELDS,
    BackupEngine,
    DiskUsage,
    JobProgress,
    JobSpec,
    check_identity,
    list_files,
)
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    JobKind,
    JobRow,
    Manifest,
    parse_destination,
)
from studio_monitor.hub.sources.backup.safety import gather
from studio_monitor.hub.sources.backup.schedule import (
    CADENCES,
    Cadence,
    Pair,
    Pending,
    Scheduler,
    Trigger,
    open_trigger,
)
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.hub.sources.ingest import MANIFEST_NAME as INGEST_MANIFEST
from studio_monitor.hub.sources.ingest.manifest import CompletionLog
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import (
    BACKUP_TOPIC,
    CAMERA_TOPIC,
    DESTINATION_TOPIC,
    EVENT_TOPIC,
    SAFETY_TOPIC,
)
from studio_monitor.protocol.records import BackupRecord, Destination, from_value, to_value

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC: Final = BACKUP_TOPIC
#: `safety/<event_id>`: how many of an event's photos are safe (see `safety.py`).
MANIFEST_FILE: Final = "backup.sqlite"
FINISHED: Final = ("completed", "failed", "cancelled")
#: Registry records of destinations (docs/destinations.md): their `kind` and `upload`.
#: Job errors that make a live or overnight job wait for its drive instead of failing.
_WAIT_FOR: Final = frozenset({"destination_missing"})
_WAITING_FIRST_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """`[sources.backup]` of the hub config."""

    #: New photos not backed up for this long make an event's backup `stale`.
    stale_after_s: float = 900.0
    #: Progress updates per second per job, at most.
    progress_hz: float = 4.0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    #: Files of one job copied (or read back) at once, each hashed on its own thread.
    files_in_flight: int = DEFAULT_FILES_IN_FLIGHT
    #: Jobs running at once; more wait in the queue.
    max_parallel: int = 2
    #: Finished job records kept (the latest of each event and destination always stays).
    keep_jobs: int = 200
    reserve_bytes: int = DEFAULT_RESERVE_BYTES
    #: How often every event's `safety` record is rechecked (stat of the folder only).
    safety_interval_s: float = 10.0
    #: Live backups (schedule.py): a pending destination gets its job once arrivals pause
    #: this long, or at the latest `live_max_delay_s` after its first unsaved photo.
    live_batch_s: float = 0.5
    live_max_delay_s: float = 2.0
    #: A live event's folder is compared with the manifest at least this often (besides
    #: each time ingest or the catalogue says a photo arrived).
    live_check_s: float = 5.0
    #: The cadence of a destination the registry has no record of (`live`, `overnight`,
    #: `manual`): destinations given inline in the events config, before the registry.
    upload_default: Cadence = "manual"
    #: A live or overnight job whose drive is not connected waits, looking again after 2 s,
    #: doubling up to this (and at once when the destination's record changes).
    waiting_max_s: float = 30.0

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> BackupSettings:
        where = "[sources.backup]"
        known = {"stale_after_s", "progress_hz", "chunk_mib", "files_in_flight",
                 "max_parallel", "keep_jobs", "reserve_mib", "safety_interval_s",
                 "live_batch_s", "live_max_delay_s", "live_check_s", "upload_default",
                 "waiting_max_s"}  # fmt: skip
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        defaults = cls()
        upload_default = section.get("upload_default", defaults.upload_default)
        if upload_default not in CADENCES:
            raise ConfigError(
                f"{where} upload_default must be one of {', '.join(CADENCES)},"
                f" not {upload_default!r}"
            )
        return cls(
            stale_after_s=_number(section, "stale_after_s", defaults.stale_after_s, 1, 7 * 86400),
            progress_hz=_number(section, "progress_hz", defaults.progress_hz, 0.2, 20),
            chunk_size=int(_number(section, "chunk_mib", defaults.chunk_size // MIB, 1, 64, True))
            * MIB,
            files_in_flight=int(
                _number(section, "files_in_flight", defaults.files_in_flight, 1, 8, True)
            ),
            max_parallel=int(_number(section, "max_parallel", defaults.max_parallel, 1, 16, True)),
            keep_jobs=int(_number(section, "keep_jobs", defaults.keep_jobs, 1, 100_000, True)),
            reserve_bytes=int(
                _number(section, "reserve_mib", defaults.reserve_bytes // MIB, 0, 1 << 20, True)
            )
            * MIB,
            safety_interval_s=_number(
                section, "safety_interval_s", defaults.safety_interval_s, 0.1, 3600
            ),
            live_batch_s=_number(section, "live_batch_s", defaults.live_batch_s, 0, 60),
            live_max_delay_s=_number(
                section, "live_max_delay_s", defaults.live_max_delay_s, 0, 600
            ),
            live_check_s=_number(section, "live_check_s", defaults.live_check_s, 0.1, 600),
            upload_default=upload_default,
            waiting_max_s=_number(section, "waiting_max_s", defaults.waiting_max_s, 1, 3600),
        )


def _number(
    section: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    integer: bool = False,
) -> float:
    value = section.get(key, default)
    kind = "a whole number" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigError(
            f"[sources.backup] {key} must be {kind} from {low:g} to {high:g}, not {value!r}"
        )
    return float(value)


def from_config(section: Mapping[str, Any], config: HubConfig) -> BackupSource:
    """The backup source of a hub, its manifest in `<data_dir>/backup.sqlite`; ingest's
    manifest tells when photos were complete in the hot folder (time to safe)."""
    return BackupSource(
        BackupSettings.from_section(section),
        config.data_dir / MANIFEST_FILE,
        completions=CompletionLog(config.data_dir / INGEST_MANIFEST),
    )


@dataclass(eq=False)
class _Job:
    spec: JobSpec
    created_at: float
    record: BackupRecord
    cancel: threading.Event = field(default_factory=threading.Event)
    #: Wakes a waiting job (cancelled, shutting down, or its destination changed).
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The hub is shutting down: the job stays unfinished in the manifest, to be resumed.
    stopping: bool = False
    #: The final state is decided (late progress from the thread is dropped).
    done: bool = False
    #: The final record is published.
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def row(self) -> JobRow:
        return JobRow(
            job_id=self.spec.job_id,
            event_id=self.spec.event_id,
            destination=self.spec.destination,
            kind=self.spec.kind,
            state=self.record.state,
            created_at=self.created_at,
            finished_at=self.record.finished_at,
            source_dir=self.spec.source_dir,
            record=to_value(self.record),
        )


class _Slot:
    """One of the `max_parallel` slots a job runs in. A cloud job waiting out a rate limit
    releases it (another destination's job may run meanwhile) and asks for it again after
    the wait, ahead of the queued jobs."""

    def __init__(self, source: BackupSource, job: _Job) -> None:
        self._source = source
        self._job = job
        self._want: asyncio.Future[None] | None = None

    def release(self) -> None:
        source = self._source
        source._running.discard(self._job)
        if not self._job.stopping:
            source._start_queued()

    async def acquire(self, within: float) -> bool:
        """Wait up to `within` seconds for the slot: True once the job holds it again."""
        source = self._source
        if self._want is None:
            self._want = asyncio.get_running_loop().create_future()
            source._resuming.append((self._job, self._want))
            source._start_queued()
        try:
            await asyncio.wait_for(asyncio.shield(self._want), within)
        except TimeoutError:
            return False
        self._want = None
        return True

    def give_up(self) -> None:
        """The job ended while asking: its turn is skipped."""
        if self._want is not None and not self._want.done():
            self._want.cancel()
        self._want = None


class _Outbox:
    """Latest value per key, published in order by one task; a failed publish is retried."""

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._pending: dict[str, JsonObject | None] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, key: str, value: JsonObject | None) -> None:
        """Queue a put (or a delete, for None)."""
        self._pending.pop(key, None)  # re-insert so the order is that of the latest change
        self._pending[key] = value
        self._idle.clear()
        self._wake.set()

    async def flush(self, within: float = 5.0) -> None:
        """Wait until everything queued so far is published (or `within` seconds pass)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()

    async def run(self, publisher: Publisher) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            if not batch:
                continue
            changes = [
                PublishChange(topic=self._topic, key=key, op="put", value=value)
                if value is not None
                else PublishChange(topic=self._topic, key=key, op="delete")
                for key, value in batch.items()
            ]
            try:
                await publisher.publish(changes)
            except Exception:
                log.exception(
                    "publishing %d %s record(s) failed; retrying", len(changes), self._topic
                )
                for key, value in batch.items():
                    if key not in self._pending:
                        self._pending[key] = value
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            if not self._pending:
                self._idle.set()


class BackupSource(Source):
    """Backup jobs of the hub: commands in, `backup` records out."""

    name = "backup"

    def __init__(
        self,
        settings: BackupSettings,
        manifest_path: Path,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        disk_usage: DiskUsage = shutil.disk_usage,
        chunk_hook: Callable[[], None] | None = None,
        cloud: CloudSettings | None = None,
        watch: RemoteWatch | None = None,
        completions: CompletionLog | None = None,
        local_time: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        """`cloud` and `watch` are for `kind: rclone` destinations (the hub's one rclone by
        default, started at the first cloud job). `completions`: when ingest's photos were
        complete in the hot folder (else their arrival in the event folder starts their time
        to safe). `local_time`: the local wall clock of the overnight window."""
        self._settings = settings
        self._cloud_settings = cloud
        self._watch = watch
        self._cloud: CloudEngine | None = None
        self._manifest_path = manifest_path
        self._clock = clock
        self._monotonic = monotonic
        self._disk_usage = disk_usage
        self._chunk_hook = chunk_hook
        self._completions = completions
        self._local_time = local_time
        self._scheduler = Scheduler(
            batch_s=settings.live_batch_s, max_delay_s=settings.live_max_delay_s
        )
        self._live_wake = asyncio.Event()
        #: Events to compare with the manifest at the next look (a job of theirs ended).
        self._live_due: set[str] = set()
        self._publisher: Publisher | None = None
        self._manifest: Manifest | None = None
        self._engine: BackupEngine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._outbox = _Outbox(TOPIC)
        self._safety_outbox = _Outbox(SAFETY_TOPIC)
        #: Events whose safety record must be recomputed at once (a job of theirs ended).
        self._safety_due: set[str] = set()
        self._safety_wake = asyncio.Event()
        #: Unfinished jobs, by id.
        self._jobs: dict[str, _Job] = {}
        self._queue: deque[_Job] = deque()
        self._running: set[_Job] = set()
        #: Cloud jobs back from a rate-limit wait, asking for their slot again (before the
        #: queue: they were started first).
        self._resuming: deque[tuple[_Job, asyncio.Future[None]]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        # Two starts for the same event at once must end with one job, not two.
        self._creating = asyncio.Lock()
        #: Set once the manifest is open, records are in line and unfinished jobs resumed.
        self.ready = asyncio.Event()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "backup.start": self._cmd_start,
            "backup.verify": self._cmd_verify,
            "backup.cancel": self._cmd_cancel,
        }

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, publisher: Publisher) -> None:
        # A hub restarts a source whose run raised: start from what the manifest says.
        self._jobs.clear()
        self._queue.clear()
        self._running.clear()
        self._resuming.clear()
        self._outbox = _Outbox(TOPIC)
        self._safety_outbox = _Outbox(SAFETY_TOPIC)
        self._safety_wake = asyncio.Event()
        self._live_wake = asyncio.Event()
        self._scheduler = Scheduler(
            batch_s=self._settings.live_batch_s, max_delay_s=self._settings.live_max_delay_s
        )
        self._publisher = publisher
        self._manifest = await asyncio.to_thread(Manifest, self._manifest_path)
        self._engine = BackupEngine(
            self._manifest,
            chunk_size=self._settings.chunk_size,
            files_in_flight=self._settings.files_in_flight,
            reserve_bytes=self._settings.reserve_bytes,
            progress_hz=self._settings.progress_hz,
            clock=self._clock,
            monotonic=self._monotonic,
            disk_usage=self._disk_usage,
            chunk_hook=self._chunk_hook,
        )
        self._executor = ThreadPoolExecutor(
            self._settings.max_parallel, thread_name_prefix="backup-job"
        )
        watch = self._watch or hub_watch(self._manifest_path.parent)
        watch.rclone.hold()  # shared with the destination registry: closed by the last user
        self._cloud = CloudEngine(
            watch.rclone,
            self._manifest,
            settings=self._cloud_settings,
            clock=self._clock,
            monotonic=self._monotonic,
            watch=watch,
        )
        flusher = asyncio.create_task(self._outbox.run(publisher), name="backup-outbox")
        safety_flusher = asyncio.create_task(
            self._safety_outbox.run(publisher), name="safety-outbox"
        )
        live: asyncio.Task[None] | None = None
        try:
            await self._restore(publisher)
            self.ready.set()
            live = asyncio.create_task(self._live_loop(publisher), name="backup-live")
            await self._safety_loop(publisher)
        finally:
            self.ready.clear()
            if live is not None:
                live.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await live
            safety_flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await safety_flusher
            await self._shutdown(flusher)
            await watch.rclone.let_go()

    # --- safety records ---------------------------------------------------------------------

    async def _safety_loop(self, publisher: Publisher) -> None:
        """Recheck each event's safety every `safety_interval_s`, at once when its event
        record changes (photos, folder, destinations) or a job of it ends; publish a
        `safety` record only when something but `computed_at` changed."""
        interval = self._settings.safety_interval_s
        signatures: dict[str, Any] = {}
        next_due: dict[str, float] = {}
        published: dict[str, JsonObject] = {
            k: dict(v) for k, v in publisher.records(SAFETY_TOPIC).items()
        }
        while True:
            events = publisher.records(EVENT_TOPIC)
            registry = publisher.records(DESTINATION_TOPIC)
            now = self._monotonic()
            due: set[str] = set(self._safety_due)
            self._safety_due.clear()
            current: dict[str, Any] = {}
            for event_id, event in events.items():
                signature = _safety_signature(event)
                current[event_id] = signature
                if signatures.get(event_id) != signature or now >= next_due.get(event_id, 0.0):
                    due.add(event_id)
            signatures = current
            for event_id in sorted(set(published) - set(events)):
                published.pop(event_id)
                next_due.pop(event_id, None)
                self._safety_outbox.put(event_id, None)
            due &= set(events)
            if due:
                jobs = []
                for event_id in sorted(due):
                    event = events[event_id]
                    folder = event.get("folder")
                    next_due[event_id] = now + interval
                    if isinstance(folder, str) and folder:
                        jobs.append((event_id, folder, _event_destinations(event, registry)))
                try:
                    records = await asyncio.to_thread(self._gather_safety, jobs)
                except Exception:
                    log.exception("safety recheck failed; trying again later")
                    records = []
                for event_id, value in records:
                    old = published.get(event_id)
                    if old is None or _without_time(old) != _without_time(value):
                        published[event_id] = value
                        self._safety_outbox.put(event_id, value)
            self._safety_wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(1.0, interval)):
                    await self._safety_wake.wait()

    def _gather_safety(
        self, jobs: list[tuple[str, str, list[DestinationSpec]]]
    ) -> list[tuple[str, JsonObject]]:
        assert self._manifest is not None
        now = self._clock()
        completed = self._completions.completed if self._completions is not None else None
        return [
            (
                event_id,
                to_value(gather(self._manifest, event_id, folder, destinations, now, completed)),
            )
            for event_id, folder, destinations in jobs
        ]

    # --- live and overnight backups ---------------------------------------------------------

    async def _live_loop(self, publisher: Publisher) -> None:
        """Start the jobs schedule.py asks for: look at the open pairs' folders whenever
        ingest or the catalogue says something arrived (and every `live_check_s`), feed
        what is not verified yet to the scheduler, create the jobs it says are due."""
        signatures: dict[str, Any] = {}
        next_check: dict[str, float] = {}
        registry: Mapping[str, JsonObject] = {}
        while True:
            try:
                registry = self._wake_waiting(registry, publisher.records(DESTINATION_TOPIC))
                await self._live_step(publisher, signatures, next_check)
            except Exception:
                log.exception("live backup step failed; trying again")
            self._live_wake.clear()
            wait = min(0.25, self._settings.live_check_s)
            soon = self._scheduler.next_due_in(self._monotonic())
            if soon is not None:
                wait = min(wait, soon)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._live_wake.wait()

    async def _live_step(
        self,
        publisher: Publisher,
        signatures: dict[str, Any],
        next_check: dict[str, float],
    ) -> None:
        assert self._manifest is not None
        events = publisher.records(EVENT_TOPIC)
        registry = publisher.records(DESTINATION_TOPIC)
        now_local = self._local_time()
        open_pairs: dict[Pair, Trigger] = {}
        specs: dict[Pair, DestinationSpec] = {}
        folders: dict[str, str] = {}
        for event_id, event in events.items():
            folder = event.get("folder")
            if not isinstance(folder, str) or not folder:
                continue
            for destination in _event_destinations(event, registry, quiet=True):
                cadence = self._cadence(destination, registry.get(destination.id))
                trigger = open_trigger(cadence, event.get("state"), event.get("date"), now_local)
                if trigger is None:
                    continue
                pair = (event_id, destination.id)
                open_pairs[pair] = trigger
                specs[pair] = destination
                folders[event_id] = folder
        self._scheduler.open_pairs(open_pairs)
        now = self._monotonic()
        current = _arrival_signatures(events, publisher.records(CAMERA_TOPIC))
        due = set(self._live_due)
        self._live_due.clear()
        for event_id in folders:
            if signatures.get(event_id) != current.get(event_id) or now >= next_check.get(
                event_id, 0.0
            ):
                due.add(event_id)
        signatures.clear()
        signatures.update(current)
        due &= set(folders)
        if due:
            looks = [
                (event_id, folders[event_id], [d for p, d in specs.items() if p[0] == event_id])
                for event_id in sorted(due)
            ]
            found = await asyncio.to_thread(self._pending_files, looks)
            now = self._monotonic()
            for event_id in due:
                next_check[event_id] = now + self._settings.live_check_s
            for pair, pending in found.items():
                self._scheduler.observe(pair, pending, now)
        for gone in set(next_check) - set(folders):
            del next_check[gone]
        for pair, trigger in self._scheduler.due(now, self._busy):
            event_id, _destination_id = pair
            async with self._creating:
                if self._busy(pair):
                    continue
                job = self._new_job(event_id, Path(folders[event_id]), specs[pair], trigger)
                await asyncio.to_thread(self._manifest.save_job, job.row())
                self._scheduler.started(pair)
                self._enqueue(job)

    def _wake_waiting(
        self, before: Mapping[str, JsonObject], now: Mapping[str, JsonObject]
    ) -> Mapping[str, JsonObject]:
        """A destination's registry record changed (its drive came back, say): the jobs
        waiting for it look again at once."""
        changed = {key for key in set(before) | set(now) if before.get(key) != now.get(key)}
        if changed:
            for job in self._jobs.values():
                if job.record.state == "waiting" and job.spec.destination.id in changed:
                    job.wake.set()
        return now

    @property
    def scheduler(self) -> Scheduler:
        """The rules that start live and overnight jobs (read-only use: diagnostics, tests)."""
        return self._scheduler

    def _cadence(self, destination: DestinationSpec, registered: JsonObject | None) -> Cadence:
        """A destination's upload cadence: the registry's record says it, else the setting."""
        upload = registered.get("upload") if registered is not None else None
        if upload in CADENCES:
            return upload  # type: ignore[no-any-return]
        return self._settings.upload_default

    def _busy(self, pair: Pair) -> bool:
        return self._unfinished_job(*pair) is not None

    def _pending_files(
        self, looks: list[tuple[str, str, list[DestinationSpec]]]
    ) -> dict[Pair, Pending | None]:
        """Per (event, destination): the files of the folder not verified there (stat only)."""
        assert self._manifest is not None
        found: dict[Pair, Pending | None] = {}
        for event_id, folder, destinations in looks:
            try:
                files = list_files(Path(folder))
            except OSError:
                files = []
            for destination in destinations:
                entries = self._manifest.entries(event_id, destination.id)
                missing = [
                    f
                    for f in files
                    if (e := entries.get(f.relpath)) is None
                    or e.state != "verified"
                    or (e.size, e.mtime_ns) != (f.size, f.mtime_ns)
                ]
                found[(event_id, destination.id)] = (
                    Pending(
                        files=len(missing),
                        bytes=sum(f.size for f in missing),
                        newest=max(f.arrived_at for f in missing),
                    )
                    if missing
                    else None
                )
        return found

    async def _restore(self, publisher: Publisher) -> None:
        """Bring the `backup` records in line with the manifest, and resume unfinished jobs."""
        assert self._manifest is not None
        rows = await asyncio.to_thread(self._manifest.jobs)
        known = {row.job_id for row in rows}
        for key in publisher.records(TOPIC):
            if key not in known:
                self._outbox.put(key, None)
        published = publisher.records(TOPIC)
        for row in rows:
            if row.state in FINISHED:
                if published.get(row.job_id) != row.record:
                    self._outbox.put(row.job_id, row.record)
                continue
            try:
                record = from_value(BackupRecord, row.record)
            except ProtocolError:
                record = BackupRecord(
                    event_id=row.event_id,
                    destination=Destination(id=row.destination.id, label=row.destination.label),
                    kind=row.kind,
                )
            log.info("resuming backup job %s (%s, %s)", row.job_id, row.event_id, row.kind)
            fresh = BackupRecord(
                event_id=record.event_id,
                destination=record.destination,
                kind=record.kind,
                state="queued",
                started_at=record.started_at,
                trigger=record.trigger,
            )
            job = _Job(
                spec=JobSpec(
                    job_id=row.job_id,
                    event_id=row.event_id,
                    kind=row.kind,
                    source_dir=row.source_dir,
                    destination=row.destination,
                ),
                created_at=row.created_at,
                record=fresh,
            )
            self._enqueue(job)
        await self._outbox.flush()

    async def _shutdown(self, flusher: asyncio.Task[None]) -> None:
        for job in list(self._jobs.values()):
            job.stopping = True
            job.cancel.set()
            job.wake.set()
        self._queue.clear()
        if self._tasks:
            # Each thread stops within one chunk; the jobs stay unfinished in the manifest.
            await asyncio.wait(set(self._tasks), timeout=5)
        # The hub gives its sources about a second to stop; the store closes after that.
        await self._outbox.flush(within=0.5)
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._manifest is not None:
            self._manifest.close()
        if self._completions is not None:
            self._completions.close()

    # --- commands ---------------------------------------------------------------------------

    async def _cmd_start(self, args: JsonObject) -> JsonObject:
        async with self._creating:
            return await self._create_jobs(args, "copy")

    async def _cmd_verify(self, args: JsonObject) -> JsonObject:
        async with self._creating:
            return await self._create_jobs(args, "verify")

    async def _cmd_cancel(self, args: JsonObject) -> JsonObject:
        check_args(args, "backup.cancel", required={"job_id"})
        job_id = args["job_id"]
        if not isinstance(job_id, str) or not job_id:
            raise ProtocolError("backup.cancel: `job_id` must be a non-empty string")
        await self._wait_ready()
        job = self._jobs.get(job_id)
        if job is None:
            published = self._publisher.records(TOPIC).get(job_id) if self._publisher else None
            if published is None:
                raise HubError("not_found", f"no backup job {job_id!r}")
            raise HubError(
                "conflict", f"backup job {job_id!r} already finished ({published.get('state')})"
            )
        job.cancel.set()
        job.wake.set()
        if job in self._queue:
            self._queue.remove(job)
            await self._finish(job, JobProgress(state="cancelled"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await job.finished.wait()
        return {"job_id": job_id, "state": job.record.state}

    async def _create_jobs(self, args: JsonObject, kind: JobKind) -> JsonObject:
        name = f"backup.{'start' if kind == 'copy' else 'verify'}"
        check_args(args, name, required={"event_id"}, optional={"destination_id"})
        event_id, destination_id = args["event_id"], args.get("destination_id")
        if not isinstance(event_id, str) or not event_id:
            raise ProtocolError(f"{name}: `event_id` must be a non-empty string")
        if destination_id is not None and (
            not isinstance(destination_id, str) or not destination_id
        ):
            raise ProtocolError(f"{name}: `destination_id` must be a non-empty string or null")
        await self._wait_ready()
        assert self._publisher is not None
        assert self._manifest is not None
        event = self._publisher.records(EVENT_TOPIC).get(event_id)
        if event is None:
            raise HubError("not_found", f"no event {event_id!r}")
        folder = event.get("folder")
        if not isinstance(folder, str) or not folder:
            raise HubError("conflict", f"event {event_id!r} has no folder to back up")
        destinations = _event_destinations(event, self._publisher.records(DESTINATION_TOPIC))
        if not destinations:
            raise HubError("conflict", f"event {event_id!r} has no backup destination")
        if destination_id is not None:
            chosen = [d for d in destinations if d.id == destination_id]
            if not chosen:
                raise HubError(
                    "not_found",
                    f"event {event_id!r} has no destination {destination_id!r}"
                    f" (it has: {', '.join(d.id for d in destinations)})",
                )
            destinations = chosen

        job_ids: list[str] = []
        new_jobs: list[_Job] = []
        for destination in destinations:
            existing = self._unfinished_job(event_id, destination.id)
            if existing is not None:
                if existing.spec.kind != kind:
                    raise HubError(
                        "conflict",
                        f"a {existing.spec.kind} job ({existing.spec.job_id}) is already under"
                        f" way for {event_id!r} on {destination.label}; try again once it ends",
                    )
                job_ids.append(existing.spec.job_id)
                continue
            if (
                kind == "verify"
                and destination.kind != "rclone"  # the cloud engine says so itself
                and (
                    await asyncio.to_thread(self._manifest.existing_target, event_id, destination)
                    is None
                )
            ):
                raise HubError(
                    "conflict",
                    f"nothing of event {event_id!r} is on {destination.label} yet: back it up first",
                )
            job = self._new_job(event_id, Path(folder), destination, "manual", kind)
            new_jobs.append(job)
            job_ids.append(job.spec.job_id)
        for job in new_jobs:
            await asyncio.to_thread(self._manifest.save_job, job.row())
            self._enqueue(job)
        await self._outbox.flush()
        result: JsonObject = {"job_id": job_ids[0]}
        if len(job_ids) > 1:
            result["job_ids"] = job_ids
        return result

    def _new_job(
        self,
        event_id: str,
        folder: Path,
        destination: DestinationSpec,
        trigger: Trigger,
        kind: JobKind = "copy",
    ) -> _Job:
        return _Job(
            spec=JobSpec(
                job_id=uuid.uuid4().hex[:16],
                event_id=event_id,
                kind=kind,
                source_dir=folder,
                destination=destination,
            ),
            created_at=self._clock(),
            record=BackupRecord(
                event_id=event_id,
                destination=Destination(id=destination.id, label=destination.label),
                kind=kind,
                state="queued",
                trigger=trigger,
            ),
        )

    async def _wait_ready(self) -> None:
        # The hub takes commands before this source has opened its manifest: wait for it.
        await wait_running(self.ready, "the backup source")

    def _unfinished_job(self, event_id: str, destination_id: str) -> _Job | None:
        for job in self._jobs.values():
            if job.spec.event_id == event_id and job.spec.destination.id == destination_id:
                return job
        return None

    # --- running jobs -----------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        self._jobs[job.spec.job_id] = job
        self._queue.append(job)
        self._outbox.put(job.spec.job_id, to_value(job.record))
        self._update_active()
        self._start_queued()

    def _start_queued(self) -> None:
        while (self._resuming or self._queue) and len(self._running) < self._settings.max_parallel:
            if self._resuming:
                waiter, granted = self._resuming.popleft()
                if not granted.done():  # (one given up, by a cancel, is skipped)
                    self._running.add(waiter)
                    granted.set_result(None)
                continue
            job = self._queue.popleft()
            self._running.add(job)
            task = asyncio.create_task(self._execute(job), name=f"backup-{job.spec.job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: _Job) -> None:
        assert self._engine is not None
        assert self._manifest is not None
        loop = asyncio.get_running_loop()
        slot = _Slot(self, job)
        try:
            job.record.state = "running"
            if job.record.started_at is None:
                job.record.started_at = self._clock()
            self._outbox.put(job.spec.job_id, to_value(job.record))
            await asyncio.to_thread(self._manifest.save_job, job.row())

            def emit(progress: JobProgress) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed under a late emit
                    loop.call_soon_threadsafe(self._on_progress, job, progress)

            if job.spec.destination.kind == "rclone":
                assert self._cloud is not None
                final = await self._cloud.run(job.spec, job.cancel, emit, slot=slot)
            else:
                final = await loop.run_in_executor(
                    self._executor, self._engine.run, job.spec, job.cancel, emit
                )
            if job.stopping and final.state == "cancelled":
                log.info(
                    "backup job %s interrupted by shutdown; it resumes at next start",
                    job.spec.job_id,
                )
                return
            if (
                final.state == "failed"
                and final.error is not None
                and final.error.code in _WAIT_FOR
                and job.record.trigger in ("live", "overnight")
                and not job.cancel.is_set()
            ):
                await self._start_waiting(job, final)
                return
            await self._finish(job, final)
        except Exception:
            log.exception("backup job %s: unexpected failure", job.spec.job_id)
        finally:
            slot.give_up()
            self._running.discard(job)
            if not job.stopping:
                self._start_queued()

    async def _start_waiting(self, job: _Job, final: JobProgress) -> None:
        """The job's drive is not connected: say so, and go on once it is back."""
        assert self._manifest is not None
        _apply(job.record, final)
        job.record.state = "waiting"
        job.record.retry_at = self._clock() + _WAITING_FIRST_S
        self._outbox.put(job.spec.job_id, to_value(job.record))
        self._update_active()
        await asyncio.to_thread(self._manifest.save_job, job.row())
        log.info(
            "backup job %s waits for %s: %s",
            job.spec.job_id,
            job.spec.destination.label,
            final.error.message if final.error else "",
        )
        task = asyncio.create_task(
            self._wait_for_destination(job), name=f"backup-wait-{job.spec.job_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_for_destination(self, job: _Job) -> None:
        """Look for the waiting job's drive (its marker, cheap) after 2 s, doubling up to
        `waiting_max_s`, and at once when woken; queue the job again once it is there."""
        delay = _WAITING_FIRST_S
        while True:
            job.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, (job.record.retry_at or 0) - self._clock())):
                    await job.wake.wait()
            if job.stopping:
                return  # shutting down: unfinished in the manifest, resumed at the next start
            if job.cancel.is_set():
                await self._finish(job, JobProgress(state="cancelled"))
                return
            if await asyncio.to_thread(self._destination_back, job.spec.destination):
                break
            delay = min(delay * 2, self._settings.waiting_max_s)
            job.record.retry_at = self._clock() + delay
            self._outbox.put(job.spec.job_id, to_value(job.record))
        log.info("backup job %s: %s is back", job.spec.job_id, job.spec.destination.label)
        job.record.state = "queued"
        job.record.retry_at = None
        job.record.error = None
        self._queue.append(job)
        self._outbox.put(job.spec.job_id, to_value(job.record))
        self._update_active()
        self._start_queued()

    def _destination_back(self, destination: DestinationSpec) -> bool:
        """The destination's drive is there again: its marker and volume (a destination used
        before), or its folder (a first use: the job then checks the rest)."""
        assert self._manifest is not None
        if destination.path is None:
            return True  # a cloud remote: the job itself asks rclone again
        known = self._manifest.destination_identity(destination.id, str(destination.path))
        if known is None:
            return destination.path.is_dir()
        problem, _volume = check_identity(destination, known)
        return problem is None

    def _on_progress(self, job: _Job, progress: JobProgress) -> None:
        if job.done:
            return
        _apply(job.record, progress)
        self._outbox.put(job.spec.job_id, to_value(job.record))

    async def _finish(self, job: _Job, final: JobProgress) -> None:
        assert self._manifest is not None
        job.done = True
        _apply(job.record, final)
        job.record.finished_at = self._clock()
        self._jobs.pop(job.spec.job_id, None)
        self._outbox.put(job.spec.job_id, to_value(job.record))
        self._update_active()
        await asyncio.to_thread(self._manifest.save_job, job.row())
        await self._outbox.flush()
        job.finished.set()
        self._safety_due.add(job.spec.event_id)
        self._safety_wake.set()
        pair = (job.spec.event_id, job.spec.destination.id)
        self._scheduler.finished(pair, job.record.state == "completed", self._monotonic())
        self._live_due.add(job.spec.event_id)
        self._live_wake.set()
        dropped = await asyncio.to_thread(self._manifest.prune_jobs, self._settings.keep_jobs)
        for job_id in dropped:
            self._outbox.put(job_id, None)
        log.info(
            "backup job %s (%s of %s to %s) %s",
            job.spec.job_id,
            job.spec.kind,
            job.spec.event_id,
            job.spec.destination.label,
            job.record.state,
        )

    def _update_active(self) -> None:
        # A job waiting for its drive is not in progress.
        if self._publisher is not None:
            busy = any(job.record.state != "waiting" for job in self._jobs.values())
            self._publisher.set_active(TOPIC, busy)


def _arrival_signatures(
    events: Mapping[str, JsonObject], cameras: Mapping[str, JsonObject]
) -> dict[str, Any]:
    """Per event, what says a photo arrived: its record's counts, and each camera filing
    into it (ingest publishes a camera record as soon as it filed a photo)."""
    found: dict[str, list[Any]] = {}
    for event_id, event in events.items():
        found.setdefault(event_id, []).append(
            (event.get("photos"), event.get("bytes"), event.get("last_photo_at"))
        )
    for key, camera in sorted(cameras.items()):
        filing_into = camera.get("event_id")
        if isinstance(filing_into, str):
            found.setdefault(filing_into, []).append(
                (key, camera.get("ingested"), camera.get("last_file"), camera.get("last_shot_at"))
            )
    return {event_id: tuple(items) for event_id, items in found.items()}


def _safety_signature(event: Mapping[str, Any]) -> Any:
    backup = event.get("backup")
    listed = backup.get("destinations") if isinstance(backup, Mapping) else None
    destinations = (
        tuple((d.get("id"), d.get("path")) for d in listed if isinstance(d, Mapping))
        if isinstance(listed, list)
        else ()
    )
    return (event.get("folder"), event.get("photos"), event.get("last_photo_at"), destinations)


def _without_time(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "computed_at"}


def _apply(record: BackupRecord, progress: JobProgress) -> None:
    for name in PROGRESS_FIELDS:
        setattr(record, name, getattr(progress, name))


def check_args(
    args: JsonObject,
    command: str,
    *,
    required: set[str],
    optional: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Bad arguments of a command are a `ProtocolError` that names them and what is allowed."""
    missing = sorted(required - set(args))
    if missing:
        raise ProtocolError(f"{command}: missing argument(s) {', '.join(missing)}")
    unknown = sorted(set(args) - required - set(optional))
    if unknown:
        allowed = ", ".join(sorted(required | set(optional)))
        raise ProtocolError(
            f"{command}: unknown argument(s) {', '.join(unknown)}; it takes {allowed}"
        )


def _event_destinations(
    event: Mapping[str, Any],
    registry: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    quiet: bool = False,
) -> list[DestinationSpec]:
    """The destinations an `event` record lists, with their paths (the catalogue adds them),
    or for a cloud one its remote (or the public fields of the remote the hub configured,
    from its `destination/<id>` record in `registry`). `quiet`: skip bad ones unlogged."""
    backup = event.get("backup")
    listed = backup.get("destinations") if isinstance(backup, Mapping) else None
    if not isinstance(listed, list):
        return []
    found: list[DestinationSpec] = []
    for item in listed:
        if not isinstance(item, Mapping):
            continue
        value: dict[str, Any] = {"id": item.get("id"), "label": item.get("label")}
        if item.get("kind") == "rclone":
            value["kind"] = "rclone"
            if item.get("remote") is not None:
                value["remote"] = item.get("remote")
            else:
                record = (registry or {}).get(str(item.get("id")), {})
                value["rclone"] = record.get("rclone")
        else:
            value["path"] = item.get("path")
        try:
            found.append(parse_destination(value))
        except ValueError as exc:
            if not quiet:
                log.warning("event destination skipped: %s", exc)
    return found
