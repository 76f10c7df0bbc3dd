// The peer's client for the failover benchmark: socket.io-client 4 with its default settings
// (reconnection on, delay 1 s doubling to 5 s with 0.5 randomization, transports polling
// then an upgrade to WebSocket), unless --polling-only restricts it to long-polling.
//
// Usage: node client.js URL [--clients K] [--stagger-ms MS] [--polling-only] [--quiet-ticks]
// K independent clients (forceNew: one connection each), the i-th started after i*MS ms.
// Prints JSON lines: {"event": "connect" | "upgrade" | "disconnect" | "tick", "c": index,
// "transport", "reason", "n"}. Timing is taken by the reader of these lines.
"use strict";

const { io } = require("socket.io-client");

const url = process.argv[2];
function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const clients = Number(arg("--clients", "1"));
const staggerMs = Number(arg("--stagger-ms", "0"));
const pollingOnly = process.argv.includes("--polling-only");
const quietTicks = process.argv.includes("--quiet-ticks");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function start(c) {
  const options = { forceNew: true };
  if (pollingOnly) options.transports = ["polling"];
  const socket = io(url, options);
  // The upgrade to WebSocket may complete before or after "connect": listen from the open.
  socket.io.on("open", () => {
    socket.io.engine.on("upgrade", (t) => out({ event: "upgrade", c, transport: t.name }));
  });
  socket.on("connect", () => {
    out({ event: "connect", c, transport: socket.io.engine.transport.name });
  });
  socket.on("disconnect", (reason) => out({ event: "disconnect", c, reason }));
  socket.on("tick", (n) => {
    if (!quietTicks) out({ event: "tick", c, n });
  });
}

for (let c = 0; c < clients; c++) {
  setTimeout(() => start(c), c * staggerMs);
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
