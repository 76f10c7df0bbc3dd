// The peer's server for the failover benchmark: Socket.IO 4 with its default settings
// (pingInterval 25 s, pingTimeout 20 s, connection state recovery off, in-memory adapter).
//
// Usage: node server.js [--port N]   (0 or absent: a free port on 127.0.0.1)
// Prints JSON lines on stdout: {"event": "listening", "port"} once listening, then
// {"event": "connection", "id", "transport"} and {"event": "emitted", "last"} replies.
// Reads commands on stdin, one per line: "emit RATE" starts emitting numbered "tick" events
// to every client at RATE per second (counting on from the last number), "stop" stops them
// and prints the last number emitted. The process runs until killed or stdin closes.
"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const httpServer = http.createServer();
const io = new Server(httpServer); // defaults on purpose: this is the peer as shipped
let n = 0;
let timer = null;

io.on("connection", (socket) => {
  out({ event: "connection", id: socket.id, transport: socket.conn.transport.name });
});

function startEmitting(rate) {
  stopEmitting();
  const period = 1000 / rate;
  const started = performance.now();
  let sent = 0;
  // Catch up on the wall schedule so timer jitter does not lower the rate.
  timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / period);
    while (sent < due) {
      n += 1;
      sent += 1;
      io.emit("tick", n);
    }
  }, Math.max(1, Math.floor(period)));
}

function stopEmitting() {
  if (timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, value] = line.trim().split(/\s+/);
  if (cmd === "emit") {
    startEmitting(Number(value));
  } else if (cmd === "stop") {
    stopEmitting();
    out({ event: "emitted", last: n });
  }
}).on("close", () => process.exit(0));

httpServer.listen(Number(arg("--port", "0")), "127.0.0.1", () => {
  out({ event: "listening", port: httpServer.address().port });
});
