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
"""

from __future__ import annotations

import asyncio
import contextlib
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
)
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    JobKind,
    JobRow,
    Manifest,
    parse_destination,
)
from studio_monitor.hub.sources.backup.safety import gather
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.records import BackupRecord, Destination, from_value, to_value

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC: Final = "backup"
#: `safety/<event_id>`: how many of an event's photos are safe (see `safety.py`).
SAFETY_TOPIC: Final = "safety"
MANIFEST_FILE: Final = "backup.sqlite"
FINISHED: Final = ("completed", "failed", "cancelled")


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

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> BackupSettings:
        where = "[sources.backup]"
        known = {"stale_after_s", "progress_hz", "chunk_mib", "files_in_flight",
                 "max_parallel", "keep_jobs", "reserve_mib", "safety_interval_s"}  # fmt: skip
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        defaults = cls()
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
    """The backup source of a hub, its manifest in `<data_dir>/backup.sqlite`."""
    return BackupSource(BackupSettings.from_section(section), config.data_dir / MANIFEST_FILE)


@dataclass(eq=False)
class _Job:
    spec: JobSpec
    created_at: float
    record: BackupRecord
    cancel: threading.Event = field(default_factory=threading.Event)
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
    ) -> None:
        """`cloud` and `watch` are for `kind: rclone` destinations (the hub's one rclone by
        default, started at the first cloud job)."""
        self._settings = settings
        self._cloud_settings = cloud
        self._watch = watch
        self._cloud: CloudEngine | None = None
        self._manifest_path = manifest_path
        self._clock = clock
        self._monotonic = monotonic
        self._disk_usage = disk_usage
        self._chunk_hook = chunk_hook
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
        self._outbox = _Outbox(TOPIC)
        self._safety_outbox = _Outbox(SAFETY_TOPIC)
        self._safety_wake = asyncio.Event()
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
        try:
            await self._restore(publisher)
            self.ready.set()
            await self._safety_loop(publisher)
        finally:
            self.ready.clear()
            safety_flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await safety_flusher
            await self._shutdown(flusher)
            await (self._watch or hub_watch(self._manifest_path.parent)).rclone.stop()

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
            events = publisher.records("event")
            registry = publisher.records("destination")
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
        return [
            (event_id, to_value(gather(self._manifest, event_id, folder, destinations, now)))
            for event_id, folder, destinations in jobs
        ]

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
        event = self._publisher.records("event").get(event_id)
        if event is None:
            raise HubError("not_found", f"no event {event_id!r}")
        folder = event.get("folder")
        if not isinstance(folder, str) or not folder:
            raise HubError("conflict", f"event {event_id!r} has no folder to back up")
        destinations = _event_destinations(event, self._publisher.records("destination"))
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
            job = _Job(
                spec=JobSpec(
                    job_id=uuid.uuid4().hex[:16],
                    event_id=event_id,
                    kind=kind,
                    source_dir=Path(folder),
                    destination=destination,
                ),
                created_at=self._clock(),
                record=BackupRecord(
                    event_id=event_id,
                    destination=Destination(id=destination.id, label=destination.label),
                    kind=kind,
                    state="queued",
                ),
            )
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
        while self._queue and len(self._running) < self._settings.max_parallel:
            job = self._queue.popleft()
            self._running.add(job)
            task = asyncio.create_task(self._execute(job), name=f"backup-{job.spec.job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: _Job) -> None:
        assert self._engine is not None
        assert self._manifest is not None
        loop = asyncio.get_running_loop()
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
                final = await self._cloud.run(job.spec, job.cancel, emit)
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
            await self._finish(job, final)
        except Exception:
            log.exception("backup job %s: unexpected failure", job.spec.job_id)
        finally:
            self._running.discard(job)
            if not job.stopping:
                self._start_queued()

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
        if self._publisher is not None:
            self._publisher.set_active(TOPIC, bool(self._jobs))


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
    event: Mapping[str, Any], registry: Mapping[str, Mapping[str, Any]] | None = None
) -> list[DestinationSpec]:
    """The destinations an `event` record lists, with their paths (the catalogue adds them),
    or for a cloud one its remote (or the public fields of the remote the hub configured,
    from its `destination/<id>` record in `registry`)."""
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
            log.warning("event destination skipped: %s", exc)
    return found
