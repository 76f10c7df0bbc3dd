"""Commands (PROTOCOL.md sections 3, 4 and 6): run each client-chosen id once, remember the answer.

A command names a handler that some source offers (`Source.commands()`). The first request
for an id records it (durably, before the handler runs, so a crash can never make it run
twice) and runs the handler as its own task, which outlives the connection that asked.
Every repeat of that id with the same name and args gets the same answer, errors included;
the same id with another name or other args is a `conflict`. Answers are kept for a week
in the store, so a client's outbox can resend after a hub restart and still be answered.

Secrets never reach the store: arguments holding them (the rclone options of a destination,
`protocol/secrets.py`) are kept with those values replaced by `<redacted>`, plus a salted
scrypt digest of the whole arguments, which is what a repeat of the id is compared with once
the hub no longer holds the arguments in memory (after a restart). A log written by an older
hub is scrubbed so when it is opened (`load`).

Among hub replicas on Redis a `Relay` (`command_relay.CommandRelay`) makes this hold across
replicas: the first replica to see an id claims it in Redis, the replica that holds the
lease of the command's source runs it (others forward it there), and a repeat on any replica
waits for the one outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, Protocol

import msgspec

from studio_monitor import logs
from studio_monitor.errors import HTTP_STATUS, HubError, MessageTooLarge, ProtocolError, WireError
from studio_monitor.hub.sources.base import CommandHandler
from studio_monitor.hub.store_api import HubStore
from studio_monitor.protocol import (
    MAX_ARGS_BYTES,
    CommandStatus,
    ErrorBody,
    ErrorResponse,
    ResultFrame,
    encode,
)
from studio_monitor.protocol.secrets import holds_secrets, redact_args, secret_values

log = logging.getLogger(__name__)

#: How long answers are remembered for idempotency.
KEEP_S: Final = 7 * 24 * 3600.0
#: How many answers are remembered at most (the oldest finished ones are forgotten first).
MAX_COMMANDS: Final = 2000
#: Largest result a handler may return, as JSON (a bigger one is the handler's bug).
MAX_RESULT_BYTES: Final = 64 * 1024

#: How often a replica looks for the outcome of a command another replica runs.
POLL_MIN_S: Final = 0.005
POLL_MAX_S: Final = 0.1
#: How often it checks that such a command still has a live runner (or a taker at all).
SETTLE_EVERY_S: Final = 0.5

Status = Literal["accepted", "done", "failed"]


class Relay(Protocol):
    """Where command ids live and run among hub replicas (`command_relay.CommandRelay`)."""

    forward_s: float

    def lease_for(self, name: str) -> tuple[Any, bool]:
        """The lease command `name` runs under (None: here) and whether we hold it."""
        ...

    async def claim(self, command_id: str, data: bytes, created_at: float) -> bytes | None: ...

    async def find(self, command_id: str) -> bytes | None: ...

    async def take(self, command_id: str, lease: Any) -> bool: ...

    async def settle(
        self, command_id: str, unavailable: bytes, orphaned: bytes
    ) -> bytes | None: ...

    async def forward(self, lease: Any, command_id: str) -> None: ...


_canonical = msgspec.json.Encoder(order="sorted")


class _Saved(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    args: dict[str, Any]
    status: Status
    created_at: float
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None
    #: When the arguments held secrets (`args` keeps them `<redacted>`): `args_digest` of the
    #: whole arguments, to tell a repeat from another command under the same id.
    digest: str | None = None


_decoder = msgspec.json.Decoder(_Saved)

#: scrypt's cost: about 40 ms a digest on a 2020s PC core, made only for commands holding
#: secrets (adding or changing a cloud destination), so a stolen hub.sqlite makes guessing
#: a password slow.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8


def args_digest(name: str, args: dict[str, Any], salt: bytes | None = None) -> str:
    """A salted scrypt digest of a command's name and whole arguments (blocking, ~40 ms)."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.scrypt(
        _canonical.encode([name, args]), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=1, dklen=32
    )
    return f"scrypt${salt.hex()}${key.hex()}"


def digest_matches(digest: str, name: str, args: dict[str, Any]) -> bool:
    """Were these the name and arguments `digest` was made from? (blocking)"""
    try:
        kind, salt, _ = digest.split("$")
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(args_digest(name, args, salt_bytes), digest)


class CommandEntry:
    """One command id: what was asked, where it stands, and a future for its outcome.

    `saved` is what is written down: its `args` have every secret `<redacted>`. `args` are
    the arguments in full when this hub was given them (a command submitted or forwarded to
    it), else the saved ones."""

    def __init__(self, saved: _Saved) -> None:
        self.args: dict[str, Any] = saved.args
        if holds_secrets(saved.name, saved.args):
            saved = msgspec.structs.replace(saved, args=redact_args(saved.name, saved.args))
        self.saved = saved
        #: The exact name and arguments, when known; else (secrets redacted) None, and a
        #: repeat is compared with `saved.digest`.
        self.fingerprint: bytes | None = None
        if saved.digest is None or holds_secrets(saved.name, self.args):
            self.fingerprint = _canonical.encode([saved.name, self.args])
        self.finished: asyncio.Event = asyncio.Event()
        if saved.status != "accepted":
            self.finished.set()

    async def same(self, name: str, args: dict[str, Any], fingerprint: bytes) -> bool:
        """Is `name(args)` (its canonical JSON: `fingerprint`) the command of this id?"""
        if self.fingerprint is not None:
            return self.fingerprint == fingerprint
        digest = self.saved.digest
        if digest is None or name != self.saved.name:
            return False
        return await asyncio.to_thread(digest_matches, digest, name, args)

    def full(self) -> _Saved:
        """The saved record with the arguments in full (for the replicas' shared record of a
        command not run yet: its runner needs them)."""
        return msgspec.structs.replace(self.saved, args=self.args)

    @property
    def id(self) -> str:
        return self.saved.id

    @property
    def status(self) -> Status:
        return self.saved.status

    def status_body(self) -> CommandStatus:
        s = self.saved
        if s.status == "done":
            return CommandStatus(id=s.id, status="done", result=s.result or {})
        if s.status == "failed" and s.error is not None:
            return CommandStatus(id=s.id, status="failed", error=s.error)
        return CommandStatus(id=s.id, status="accepted")

    def http_answer(self) -> tuple[int, bytes]:
        """What `POST /api/v1/commands` answers for this id (the same every time)."""
        s = self.saved
        if s.status == "failed" and s.error is not None:
            return HTTP_STATUS.get(s.error.code, 500), encode(ErrorResponse(error=s.error))
        return 202, encode(CommandStatus(id=s.id, status="accepted"))

    def result_frame(self) -> ResultFrame:
        s = self.saved
        if s.status == "failed" and s.error is not None:
            return ResultFrame(id=s.id, ok=False, error=s.error)
        return ResultFrame(id=s.id, ok=True, result=s.result or {})


def describe_failure(exc: BaseException) -> str:
    """What a client reads of a handler's unexpected exception: its type and message, and
    where it was raised when it has no message (a failed `assert`, a bare `KeyError()`)."""
    text = str(exc)
    if text:
        return f"{type(exc).__name__}: {text}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} in {last.name} ({os.path.basename(last.filename)}:{last.lineno})"


class CommandCenter:
    """Dispatches commands to the sources' handlers, once per id."""

    def __init__(
        self,
        store: HubStore,
        handlers: Mapping[str, CommandHandler],
        *,
        clock: Callable[[], float] = time.time,
        max_commands: int = MAX_COMMANDS,
        relay: Relay | None = None,
    ) -> None:
        self._store = store
        self._relay = relay
        self._max_commands = max_commands
        self._handlers = dict(handlers)
        self._clock = clock
        self._entries: dict[str, CommandEntry] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._saves: set[asyncio.Task[None]] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    async def load(self) -> None:
        """Read the remembered answers; a command cut off by a crash is marked failed."""
        decoder = msgspec.json.Decoder(_Saved)
        scrubbed: list[tuple[str, bytes, float]] = []
        for data in await self._store.load_commands(
            self._clock() - KEEP_S, keep=self._max_commands
        ):
            try:
                saved = decoder.decode(data)
            except msgspec.MsgspecError:
                log.warning("skipping an unreadable saved command")
                continue
            if saved.status == "accepted" and self._relay is not None:
                # Another replica may be running it: its outcome is looked up (and an
                # orphan marked failed) in Redis when the id is asked for.
                continue
            if holds_secrets(saved.name, saved.args):
                # Written by an older hub, secrets in clear: keep a digest instead.
                for value in secret_values(saved.name, saved.args):
                    logs.register_secret(value)
                digest = await asyncio.to_thread(args_digest, saved.name, saved.args)
                saved.digest = digest
                saved.args = redact_args(saved.name, saved.args)
                scrubbed.append((saved.id, encode(saved), saved.created_at))
            if saved.status == "accepted":
                saved.status = "failed"
                saved.error = ErrorBody(
                    code="internal",
                    message="the hub stopped while this command ran; check the records "
                    "before asking again with a new id",
                )
                if scrubbed and scrubbed[-1][0] == saved.id:
                    scrubbed[-1] = (saved.id, encode(saved), saved.created_at)
                else:
                    await self._save(saved)
            self._entries[saved.id] = CommandEntry(saved)
        if scrubbed:
            # Rewritten so that the old bytes are gone from the file, not just unlinked.
            await self._store.scrub_commands(scrubbed)
            log.info("command log: secrets of %d older commands replaced by digests", len(scrubbed))

    def get(self, command_id: str) -> CommandEntry | None:
        return self._entries.get(command_id)

    async def submit(self, command_id: str, name: str, args: dict[str, Any]) -> CommandEntry:
        """The entry for this id: new (and started) or the earlier one.

        Raises `conflict`; and `bad_request` (unknown name) or `too_large` (arguments over
        MAX_ARGS_BYTES) before anything is recorded: a refused command takes no room, and
        asking again gets the same refusal.
        """
        if self._closing:
            raise WireError("the hub is shutting down", code="unavailable")
        fingerprint = _canonical.encode([name, args])
        if len(fingerprint) - len(name) > MAX_ARGS_BYTES:
            raise MessageTooLarge(
                f"the arguments of {name!r} are over the {MAX_ARGS_BYTES} byte limit"
            )
        existing = self._entries.get(command_id)
        if existing is not None:
            if not await existing.same(name, args, fingerprint):
                raise HubError(
                    "conflict",
                    f"command id {command_id!r} was already used for another command "
                    f"({existing.saved.name}) or other arguments; choose a new id",
                )
            return existing
        handler = self._handlers.get(name)
        if handler is None:
            known = ", ".join(self.names) or "none"
            raise ProtocolError(f"unknown command {name!r}; this hub knows: {known}")
        saved = _Saved(
            id=command_id, name=name, args=args, status="accepted", created_at=self._clock()
        )
        entry = CommandEntry(saved)
        # In the table before any await: a concurrent repeat finds it and waits on it.
        self._entries[command_id] = entry
        if holds_secrets(name, args):
            for value in secret_values(name, args):
                logs.register_secret(value)  # scrubbed from every log line from now on
            try:
                entry.saved.digest = await asyncio.to_thread(args_digest, name, args)
            except BaseException:
                self._entries.pop(command_id, None)
                entry.finished.set()
                raise
        if self._relay is not None:
            return await self._submit_shared(entry, handler, self._relay)
        self._evict()
        await self._save(entry.saved)
        self._start(entry, handler)
        return entry

    def _start(self, entry: CommandEntry, handler: CommandHandler) -> None:
        task = asyncio.create_task(self._run(entry, handler), name=f"command {entry.saved.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit_shared(
        self, entry: CommandEntry, handler: CommandHandler, relay: Relay
    ) -> CommandEntry:
        """Claim the id in Redis; run it here, forward it to its lease holder, or wait for
        the earlier request's outcome (another replica saw this id first)."""
        saved = entry.saved
        args = entry.args
        try:
            # In full until it has run: the replica running it may be another one.
            earlier = await relay.claim(saved.id, encode(entry.full()), saved.created_at)
        except BaseException:
            self._entries.pop(saved.id, None)
            raise
        if earlier is not None:
            first = _decoder.decode(earlier)
            entry = CommandEntry(first)
            self._entries[saved.id] = entry
            if not await entry.same(saved.name, args, _canonical.encode([saved.name, args])):
                raise HubError(
                    "conflict",
                    f"command id {saved.id!r} was already used for another command "
                    f"({first.name}) or other arguments; choose a new id",
                )
            if not entry.finished.is_set():
                self._watch(entry)
            return entry
        self._evict()
        lease, here = relay.lease_for(saved.name)
        if here and await relay.take(saved.id, lease):
            self._start(entry, handler)
            return entry
        # Not ours to run, or the lease went to another replica a moment ago: its holder
        # (whoever that is by the time it reads its queue) takes it.
        if lease is not None:
            await relay.forward(lease, saved.id)
        self._watch(entry)
        return entry

    async def run_forwarded(self, command_id: str, lease: object) -> None:
        """Run a command another replica forwarded to this one (it holds `lease`)."""
        relay = self._relay
        if relay is None or self._closing:
            return
        try:
            data = await relay.find(command_id)
            if data is None:
                return
            saved = _decoder.decode(data)
            handler = self._handlers.get(saved.name)
            if saved.status != "accepted" or handler is None:
                return
            if not await relay.take(command_id, lease):
                return
        except WireError as exc:
            log.warning("could not take forwarded command %s: %s", command_id, exc.message)
            return
        entry = self._entries.get(command_id)
        if entry is None or entry.finished.is_set():
            entry = self._entries[command_id] = CommandEntry(saved)
        self._start(entry, handler)

    async def lookup(self, command_id: str) -> CommandEntry | None:
        """The entry for an id, from any replica's record when this one does not know it."""
        entry = self._entries.get(command_id)
        if entry is not None or self._relay is None:
            return entry
        data = await self._relay.find(command_id)
        if data is None:
            return None
        saved = _decoder.decode(data)
        if saved.status == "accepted":
            unavailable, orphaned = self._failures(saved)
            data = await self._relay.settle(command_id, unavailable, orphaned)
            if data is None:
                return None
            saved = _decoder.decode(data)
        return CommandEntry(saved)

    def _failures(self, saved: _Saved) -> tuple[bytes, bytes]:
        """The two ways a command run elsewhere is given up, as saved records."""
        assert self._relay is not None
        lease, _ = self._relay.lease_for(saved.name)
        where = getattr(lease, "name", "its source")
        unavailable = msgspec.structs.replace(
            saved,
            status="failed",
            error=ErrorBody(
                code="unavailable",
                message=f"no hub replica runs {where} now (the command was not taken within "
                f"{self._relay.forward_s:g} s); try again",
            ),
        )
        orphaned = msgspec.structs.replace(
            saved,
            status="failed",
            error=ErrorBody(
                code="internal",
                message="the hub replica running this command stopped; check the records "
                "before asking again with a new id",
            ),
        )
        return encode(unavailable), encode(orphaned)

    def _watch(self, entry: CommandEntry) -> None:
        task = asyncio.create_task(self._follow(entry), name=f"command {entry.id} elsewhere")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _follow(self, entry: CommandEntry) -> None:
        """Wait for the outcome of a command another replica runs (or was sent to)."""
        relay = self._relay
        assert relay is not None
        unavailable, orphaned = self._failures(entry.saved)
        delay = POLL_MIN_S
        settled_at = time.monotonic()
        while True:
            try:
                if time.monotonic() - settled_at >= SETTLE_EVERY_S:
                    settled_at = time.monotonic()
                    data = await relay.settle(entry.id, unavailable, orphaned)
                else:
                    data = await relay.find(entry.id)
            except WireError:
                data = None  # Redis is away: the store says so; look again
            if data is not None:
                saved = _decoder.decode(data)
                if saved.status != "accepted":
                    entry.saved = saved
                    entry.finished.set()
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    def _evict(self) -> None:
        """Forget the oldest finished answers past `max_commands` (memory and store)."""
        excess = len(self._entries) - self._max_commands
        if excess <= 0:
            return
        gone: list[str] = []
        for command_id, entry in self._entries.items():
            if len(gone) >= excess:
                break
            if entry.status != "accepted":
                gone.append(command_id)
        if not gone:
            return
        for command_id in gone:
            del self._entries[command_id]
        save = asyncio.create_task(self._forget_logged(gone))
        self._saves.add(save)
        save.add_done_callback(self._saves.discard)

    async def _forget_logged(self, command_ids: list[str]) -> None:
        try:
            await self._store.forget_commands(command_ids)
        except Exception:
            log.exception("could not forget %d old command answers", len(command_ids))

    async def _run(self, entry: CommandEntry, handler: CommandHandler) -> None:
        saved = entry.saved
        try:
            result = await handler(dict(entry.args))
            if not isinstance(result, dict):
                raise TypeError(f"handler returned {type(result).__name__}, not a dict")
            # A result that cannot go on the wire, or too big to keep, is the handler's bug.
            size = len(encode(result))
            if size > MAX_RESULT_BYTES:
                raise ValueError(f"result of {size} bytes is over {MAX_RESULT_BYTES}")
            saved.status = "done"
            saved.result = result
        except asyncio.CancelledError:
            saved.status = "failed"
            saved.error = ErrorBody(
                code="unavailable", message="the hub shut down while the command ran"
            )
        except WireError as exc:
            saved.status = "failed"
            saved.error = ErrorBody(code=exc.code, message=exc.message)
        except Exception as exc:
            log.exception("command %s (%s) failed", saved.name, saved.id)
            saved.status = "failed"
            saved.error = ErrorBody(
                code="internal", message=f"{saved.name} failed: {describe_failure(exc)}"
            )
        entry.finished.set()
        # The outcome must reach the store even if the hub is stopping right now: the save
        # runs as its own task, which `close()` waits for and nothing cancels.
        save = asyncio.create_task(self._save_logged(saved))
        self._saves.add(save)
        save.add_done_callback(self._saves.discard)
        await asyncio.shield(save)

    async def _save_logged(self, saved: _Saved) -> None:
        try:
            await self._save(saved)
        except Exception:
            log.exception("could not save the outcome of command %s", saved.id)

    async def _save(self, saved: _Saved) -> None:
        if holds_secrets(saved.name, saved.args):  # never written in clear, whoever asks
            saved = msgspec.structs.replace(saved, args=redact_args(saved.name, saved.args))
        await self._store.save_command(saved.id, encode(saved), saved.created_at)

    async def wait(self, entry: CommandEntry, within: float | None) -> None:
        """Wait for the command's outcome, at most `within` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(entry.finished.wait(), within)

    async def close(self, grace: float = 0.5) -> None:
        """Give running handlers `grace` seconds, then cancel them (recorded as failed:
        unavailable), and wait until every outcome is saved."""
        self._closing = True
        for watcher in list(self._watchers):
            watcher.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._saves:
            await asyncio.gather(*list(self._saves), return_exceptions=True)
