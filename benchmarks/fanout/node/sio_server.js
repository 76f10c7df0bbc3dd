// The peer: a Node Socket.IO 4.8 server as a studio would otherwise run it. Changes arrive
// by HTTP POST /publish (the same body run.py posts to the hub's /api/v1/publish) and each
// is broadcast with one `io.emit('change', ...)`, given a seq like the hub does. Socket.IO
// encodes a broadcast once and writes it to every client. Prints {"event": "listening",
// "port"} once bound to 127.0.0.1 (port 0: a free one).
'use strict';

const http = require('http');
const { Server } = require('socket.io');

let seq = 0;
const httpServer = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/publish') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        res.writeHead(400).end();
        return;
      }
      const ts = Date.now() / 1000;
      const cursors = {};
      for (const ch of body.changes) {
        seq += 1;
        cursors[ch.topic] = seq;
        io.emit('change', { topic: ch.topic, key: ch.key, seq, op: ch.op, ts, value: ch.value });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ cursors }));
    });
    return;
  }
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', clients: io.engine.clientsCount }));
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, { serveClient: false });

httpServer.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ event: 'listening', port: httpServer.address().port }) + '\n');
});

process.on('SIGTERM', () => process.exit(0));
