// Delivery statistics shared by both client workers, and their line protocol with run.py.
//
// A worker reads JSON lines on stdin from run.py: {"cmd": "window", "t0", "t1"} (Unix
// seconds) says which deliveries to measure; {"cmd": "report"} makes it print its figures as
// one JSON line and exit. Latency is the receive time minus the publish time `value.t` that
// run.py put in the change: both are read from this machine's wall clock (Node's
// performance.timeOrigin + now() has sub-millisecond resolution, Date.now() has not).
// Latencies go into a fixed histogram (0.1 ms buckets to 2 s, then 10 ms to 60 s) so a
// million deliveries cost no memory and histograms of workers merge by adding counts.
'use strict';

const readline = require('readline');
const { performance } = require('perf_hooks');

const FINE = 20000; // 0.1 ms buckets below 2000 ms
const COARSE = 5800; // 10 ms buckets from 2 s to 60 s
const origin = performance.timeOrigin;

function nowMs() {
  return origin + performance.now();
}

class Stats {
  constructor(connections) {
    this.t0 = Infinity;
    this.t1 = -Infinity;
    this.hist = new Float64Array(FINE + COARSE);
    this.recvWindow = 0; // deliveries received inside [t0, t1]
    this.maxMs = 0;
    this.minMs = Infinity;
    this.perConn = new Float64Array(connections); // changes published in the window, received
    this.lastN = new Float64Array(connections); // highest publish number `value.n` seen
    this.closed = 0;
    this.errors = [];
  }

  setWindow(t0, t1) {
    this.t0 = t0 * 1000;
    this.t1 = t1 * 1000;
  }

  // One change delivered to connection `conn`: `value.t` is its publish time (Unix
  // seconds), `value.n` its number in publish order.
  record(conn, value, recvMs) {
    if (value.n > this.lastN[conn]) this.lastN[conn] = value.n;
    const pubMs = value.t * 1000;
    if (pubMs >= this.t0 && pubMs <= this.t1) this.perConn[conn] += 1;
    if (recvMs < this.t0 || recvMs > this.t1) return;
    this.recvWindow += 1;
    let lat = recvMs - pubMs;
    if (lat > this.maxMs) this.maxMs = lat;
    if (lat < this.minMs) this.minMs = lat;
    if (lat < 0) lat = 0; // clocks are the same; guard against rounding only
    let idx;
    if (lat < 2000) idx = Math.floor(lat * 10);
    else idx = FINE + Math.min(COARSE - 1, Math.floor((lat - 2000) / 10));
    this.hist[idx] += 1;
  }

  error(text) {
    if (this.errors.length < 20) this.errors.push(String(text));
  }

  report(extra) {
    const hist = [];
    for (let i = 0; i < this.hist.length; i++) if (this.hist[i]) hist.push([i, this.hist[i]]);
    let total = 0;
    let minConn = Infinity;
    let maxConn = 0;
    for (const n of this.perConn) {
      total += n;
      if (n < minConn) minConn = n;
      if (n > maxConn) maxConn = n;
    }
    return Object.assign(
      {
        event: 'report',
        recv_window: this.recvWindow,
        hist,
        max_ms: this.recvWindow ? this.maxMs : null,
        min_ms: this.recvWindow ? this.minMs : null,
        pub_window_recv: total,
        per_conn_min: this.perConn.length ? minConn : 0,
        per_conn_max: maxConn,
        connections: this.perConn.length,
        closed: this.closed,
        errors: this.errors,
      },
      extra || {},
    );
  }

  // The publish number every connection has reached: how far the slowest one is.
  slowest() {
    let min = Infinity;
    for (const n of this.lastN) if (n < min) min = n;
    return min === Infinity ? 0 : min;
  }
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Wire stdin commands to `stats`; `onReport` closes the connections and returns extra fields.
// Every 10 ms, when it moved, the slowest connection's publish number is sent as
// {"event": "progress", "n"}: run.py's flood publisher paces itself on it.
function control(stats, onReport) {
  let reported = -1;
  setInterval(() => {
    const n = stats.slowest();
    if (n !== reported) {
      reported = n;
      send({ event: 'progress', n });
    }
  }, 10);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      return;
    }
    if (msg.cmd === 'window') stats.setWindow(msg.t0, msg.t1);
    else if (msg.cmd === 'report') {
      const extra = onReport();
      process.stdout.write(JSON.stringify(stats.report(extra)) + '\n', () => process.exit(0));
    }
  });
  // run.py gone: never outlive it.
  rl.on('close', () => process.exit(0));
}

// Open `count` connections, at most `parallel` handshakes at a time; `open(i)` returns a
// promise that resolves once connection i is subscribed.
async function openAll(count, parallel, open) {
  let next = 0;
  let ok = 0;
  async function lane() {
    while (next < count) {
      const i = next++;
      try {
        await open(i);
        ok += 1;
      } catch (e) {
        // counted as missing in the ready line
      }
    }
  }
  const lanes = [];
  for (let k = 0; k < Math.min(parallel, count); k++) lanes.push(lane());
  await Promise.all(lanes);
  return ok;
}

module.exports = { Stats, nowMs, send, control, openAll };
