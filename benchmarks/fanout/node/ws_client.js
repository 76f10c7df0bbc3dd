// Client worker for the Studio Monitor hub: `count` WebSocket connections (the `ws`
// package, no compression, as the app), each saying hello for one topic and counting the
// changes it receives, whether sent one per frame (`change`) or coalesced (`changes`).
// Usage: node ws_client.js WS_URL TOKEN TOPIC COUNT
'use strict';

const WebSocket = require('ws');
const { Stats, nowMs, send, control, openAll } = require('./stats');

const [url, token, topic, countText] = process.argv.slice(2);
const count = Number(countText);
const stats = new Stats(count);
const sockets = [];
let stopping = false;

function open(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'studio-monitor.v1', {
      headers: { Authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    sockets.push(ws);
    let welcomed = false;
    const timer = setTimeout(() => reject(new Error('no welcome within 30 s')), 30000);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', protocol: 1, topics: [topic], resume: null }));
    });
    ws.on('message', (data) => {
      const recv = nowMs();
      const frame = JSON.parse(data);
      if (frame.type === 'changes') {
        for (const c of frame.items) if (c.value) stats.record(i, c.value, recv);
      } else if (frame.type === 'change') {
        if (frame.value) stats.record(i, frame.value, recv);
      } else if (frame.type === 'welcome' && !welcomed) {
        welcomed = true;
        clearTimeout(timer);
        resolve();
      } else if (frame.type === 'error') {
        stats.error(`error frame: ${JSON.stringify(frame.error)}`);
      }
    });
    ws.on('close', (code, reason) => {
      if (!stopping) {
        stats.lastN[i] = Infinity; // a dropped client no longer paces the flood
        stats.closed += 1;
        stats.error(`closed ${code} ${reason}`);
      }
      clearTimeout(timer);
      reject(new Error(`closed ${code}`));
    });
    ws.on('error', (err) => stats.error(err.message));
  });
}

control(stats, () => {
  stopping = true;
  for (const ws of sockets) ws.terminate();
  return {};
});

openAll(count, 50, open).then((ok) => send({ event: 'ready', connected: ok }));
