// Client worker for the Socket.IO peer: `count` socket.io-client connections over
// WebSocket only (no long-polling upgrade dance), counting `change` events.
// Usage: node sio_client.js HTTP_URL COUNT
'use strict';

const { io } = require('socket.io-client');
const { Stats, nowMs, send, control, openAll } = require('./stats');

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
const stats = new Stats(count);
const sockets = [];
let stopping = false;

function open(i) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true, // one engine.io connection per client, as separate browsers would have
      timeout: 30000,
    });
    sockets.push(socket);
    socket.on('change', (c) => stats.record(i, c.value, nowMs()));
    socket.on('connect', resolve);
    socket.on('connect_error', (err) => {
      stats.error(err.message);
      reject(err);
    });
    socket.on('disconnect', (reason) => {
      if (!stopping) {
        stats.lastN[i] = Infinity; // a dropped client no longer paces the flood
        stats.closed += 1;
        stats.error(`disconnected: ${reason}`);
      }
    });
  });
}

control(stats, () => {
  stopping = true;
  for (const s of sockets) s.disconnect();
  return {};
});

openAll(count, 50, open).then((ok) => send({ event: 'ready', connected: ok }));
