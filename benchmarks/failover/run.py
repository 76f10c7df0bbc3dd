"""Failover and recovery benchmark: our connection service beside Socket.IO 4, same faults.

Runs the scenarios of issue 3 many times on 127.0.0.1, through the fault proxy of the e2e
tests (tests/support/faultproxy.py), and prints medians and p95s with the peer beside ours:

- hub (server) SIGKILLed and restarted on its data folder: from it answering to live;
- black hole on the open WebSocket: until noticed, and until data flows again (ours: over
  HTTP long-poll, with new upgrades refused);
- WebSocket refused: from the refusal to data over HTTP; back on WebSocket once allowed;
- a 3 s cut at 100 changes/s: lost and repeated changes (Socket.IO: recovery off, its default);
- lost and repeated changes across every transition, hub restarts included;
- idle HTTP requests per minute in each state, and a change's delay on an idle long-poll.

    .venv/bin/python benchmarks/failover/run.py                        # both sides
    .venv/bin/python benchmarks/failover/run.py --only ours --runs 12  # 100+ transitions
    .venv/bin/python benchmarks/failover/run.py --quick                # a smoke run

The idle windows come first and take `--idle-settle` + `--idle-window` (150 s by default);
see README.md for the durations measured.

The first run installs the peer's Node packages from node/package-lock.json (`npm ci`).
Everything listens on 127.0.0.1 and stops when the run ends (or is interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository importable (benchmarks.*, tests.support.*).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.failover import ours, peer
from benchmarks.failover.common import Stats, fmt, ratio, stats


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cycles of each fault (default 5)")
    parser.add_argument(
        "--downtimes",
        default="1,2,3,5",
        help="seconds the hub/server stays down, cycled over the restarts (default 1,2,3,5)",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="publisher ticks/s (default 20)")
    parser.add_argument("--idle-window", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--idle-settle",
        type=float,
        default=90.0,
        help="the settled idle window starts this long after entering the state (default 90)",
    )
    parser.add_argument("--cut-runs", type=int, default=2, help="3 s cuts at 100/s (default 2)")
    parser.add_argument("--peer-clients", type=int, default=8, help="peer black-hole clients")
    parser.add_argument("--only", choices=("ours", "peer"), help="run one side only")
    parser.add_argument("--quick", action="store_true", help="2 runs, 30 s idle, 1 cut")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.idle_window, args.cut_runs, args.peer_clients = 2, 30.0, 1, 4
    args.downtimes = [float(x) for x in args.downtimes.split(",") if x]
    if args.runs < 1 or not args.downtimes:
        parser.error("--runs must be at least 1 and --downtimes not empty")
    if args.idle_settle < args.idle_window:
        parser.error("--idle-settle must be at least --idle-window (the windows must not overlap)")
    return args


async def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    res = ours.OursResults()
    figures: dict[str, Any] = {"ours": res}
    node = peer.ensure_node() if args.only != "ours" else None
    log_dir = str(tmp)
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {name}", file=sys.stderr, flush=True)

    # Phase 1, mostly waiting: idle windows side by side, with the peer's slow black hole
    # (its detection takes up to 45 s) and its refused-then-allowed watch.
    phase(
        "idle windows"
        + (", peer black hole, peer refused upgrades" if node is not None else "")
        + f" ({args.idle_window:.0f} s windows, the settled one {args.idle_settle:.0f} s in)"
    )
    jobs: list[Any] = []
    if args.only != "peer":
        jobs.append(
            ours.idle(tmp / "ours", res, window_s=args.idle_window, settle_s=args.idle_settle)
        )
    if node is not None:
        jobs.append(peer.polling_idle(node, log_dir, window_s=args.idle_window))
        jobs.append(peer.blackhole(node, log_dir, clients=args.peer_clients))
        jobs.append(peer.refused_then_allowed(node, log_dir))
    outcomes = await asyncio.gather(*jobs)
    if node is not None:
        figures["peer_idle"], figures["peer_blackhole"], figures["peer_refused"] = outcomes[-3:]

    if args.only != "peer":
        phase(f"ours: {args.runs} x (WS refused, black hole, hub restart), publishing throughout")
        await ours.transitions(
            tmp / "ours", res, runs=args.runs, downtimes=args.downtimes, rate_hz=args.rate
        )
        phase(f"ours: {args.cut_runs} x 3 s cut at 100 changes/s")
        await ours.cut_loss(tmp / "ours", res, runs=args.cut_runs)
    if node is not None:
        phase(f"peer: {args.cut_runs} x 3 s cut at 100 events/s")
        figures["peer_cut"] = await peer.cut_loss(node, log_dir, runs=args.cut_runs)
        phase(f"peer: {args.runs} server restarts")
        downs = [args.downtimes[i % len(args.downtimes)] for i in range(args.runs)]
        figures["peer_restart"] = await peer.restart_times(node, log_dir, downs)
    phase("done")
    return figures


def _row(name: str, target: str, mine: Stats | None, theirs: Stats | None) -> list[str]:
    def cell(s: Stats | None) -> str:
        if s is None:
            return "-"
        if s.n == 0:
            return "n/a"
        return f"{fmt(s.median)} / {fmt(s.p95)} (n={s.n})"

    return [
        name,
        target,
        cell(mine),
        cell(theirs),
        ratio(mine.p95 if mine else None, theirs.p95 if theirs else None),
    ]


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def report(args: argparse.Namespace, figures: dict[str, Any]) -> str:
    res: ours.OursResults = figures["ours"]
    p_bh: peer.BlackholeResult | None = figures.get("peer_blackhole")
    p_ref: peer.RefusedResult | None = figures.get("peer_refused")
    p_restart: list[float] | None = figures.get("peer_restart")
    has_ours = args.only != "peer"

    def mine(values: list[float]) -> Stats | None:
        return stats(values) if has_ours else None

    rows = [
        _row(
            "restart: server answers -> live",
            "2 s",
            mine(res.restart_live_s),
            stats(p_restart) if p_restart is not None else None,
        ),
        _row("restart: server answers -> data", "", mine(res.restart_data_s), None),
        _row(
            "black hole -> noticed",
            "",
            mine(res.blackhole_noticed_s),
            stats(p_bh.detect_s) if p_bh else None,
        ),
        _row(
            "black hole -> data again (HTTP)",
            "12 s",
            mine(res.blackhole_to_http_s),
            stats(p_bh.data_again_s) if p_bh else None,
        ),
        _row(
            "WS refused -> data over HTTP",
            "2 s",
            mine(res.refused_to_http_s),
            stats([p_ref.refused_to_data_s])
            if p_ref and p_ref.refused_to_data_s is not None
            else None,
        ),
        _row("WS allowed again -> live on WS", "2 s", mine(res.back_on_ws_s), None),
    ]
    head = ["figure (p50 / p95)", "target p95", "ours", "Socket.IO 4", "peer/ours p95"]
    out = [_table(rows, head), ""]

    if p_ref is not None:
        back = (
            f"{p_ref.back_on_ws_s:.2f} s"
            if p_ref.back_on_ws_s is not None
            else f"never within {p_ref.waited_s:.0f} s (stays on polling)"
        )
        out.append(f"Socket.IO after upgrades are allowed again: back on WebSocket {back}")
    if p_bh is not None:
        reasons = ", ".join(sorted(set(p_bh.reasons))) or "none"
        out.append(
            f"Socket.IO black hole: {len(p_bh.detect_s)} of {args.peer_clients} clients noticed "
            f"within 60 s ({reasons}); range "
            f"{fmt(min(p_bh.detect_s, default=None))} to {fmt(max(p_bh.detect_s, default=None))}"
        )

    # Loss.
    out.append("")
    if has_ours:
        out.append(
            f"ours, all transitions: {res.transitions} state changes, {res.delivered} changes "
            f"delivered, lost {res.lost}, duplicated {res.duplicated} "
            f"(target 0 / 0 over 100 transitions incl. hub restarts)"
        )
        out.append(
            f"ours, 3 s cut at 100 changes/s ({res.cut_runs} runs of 10 s): lost "
            f"{res.cut_lost} of {res.cut_expected}, duplicated {res.cut_duplicated}"
        )
        paths = Counter(res.restart_paths)
        out.append(
            "ours, states from a hub SIGKILL to live: "
            + ("; ".join(f"{path} ({n}x)" for path, n in paths.most_common()) or "n/a")
        )
    p_cut: list[peer.LossResult] | None = figures.get("peer_cut")
    if p_cut:
        expected = sum(r.expected for r in p_cut)
        lost = sum(r.lost for r in p_cut)
        per_run = ", ".join(f"{100 * r.lost / r.expected:.0f} %" for r in p_cut if r.expected)
        out.append(
            f"Socket.IO, 3 s cut at 100 events/s ({len(p_cut)} runs of 10 s, recovery off): "
            f"lost {lost} of {expected} (per run: {per_run}), duplicated "
            f"{sum(r.duplicates for r in p_cut)}"
        )

    # Idle.
    out.append("")
    if has_ours:
        for state in ("live", "longpoll", "polling", "offline"):
            for label, table in (
                (f"settled ({res.idle_settle_s:.0f} s in)", res.idle),
                ("first window", res.idle_first),
            ):
                if state not in table:
                    continue
                count, minutes, breakdown = table[state]
                detail = ", ".join(f"{k}: {v}" for k, v in sorted(breakdown.items()))
                out.append(
                    f"ours idle in {state}, {label}: {count / minutes:.1f} requests/min "
                    f"({count} in {minutes * 60:.0f} s: {detail or 'none'})"
                )
        for state, samples in res.idle_latency_ms.items():
            sent = stats([a for a, _ in samples])
            answered = stats([b for _, b in samples])
            out.append(
                f"ours idle in {state}, a change published -> printed by the client: "
                f"p50 {fmt(sent.median, 'ms', 1)}, max {fmt(sent.hi, 'ms', 1)} from the publish "
                f"sent; p50 {fmt(answered.median, 'ms', 1)}, max {fmt(answered.hi, 'ms', 1)} "
                f"from its answer (n={sent.n}; target on long-poll 100 ms)"
            )
    p_idle: tuple[int, float] | None = figures.get("peer_idle")
    if p_idle is not None:
        count, minutes = p_idle
        out.append(
            f"Socket.IO polling-only idle: {count / minutes:.1f} requests/min "
            f"({count} in {minutes * 60:.0f} s)"
        )

    problems = (res.failures + res.faults) if has_ours else []
    if problems:
        out.append("")
        out.append("PROBLEMS:")
        out += [f"  {p}" for p in problems]
    return "\n".join(out)


def _jsonable(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if hasattr(value, "__dataclass_fields__"):
            out[key] = asdict(value)
        elif isinstance(value, list):
            out[key] = [asdict(v) if hasattr(v, "__dataclass_fields__") else v for v in value]
        else:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="failover-bench-"))
    print(
        f"failover benchmark: {platform.node()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}; logs in {tmp}",
        file=sys.stderr,
    )
    figures = asyncio.run(_run(args, tmp))
    text = report(args, figures)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(_jsonable(figures), indent=2), encoding="utf-8")
    res: ours.OursResults = figures["ours"]
    if not args.keep and not res.failures and not res.faults:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if (res.failures or res.faults) else 0


if __name__ == "__main__":
    raise SystemExit(main())
