// A third-party wss:// echo server for wschaos's TLS tests: Node's https server (OpenSSL) with
// the `ws` package on it. Prints its port on the first line, then one line per TLS handshake:
// `handshake resumed=true|false` (and `refused <reason>` for a handshake that failed).
//
//   node tls_server.js --cert FILE --key FILE [--port N] [--ca FILE] [--ticket-keys FILE]
//
// --ca FILE: require a client certificate signed by that CA (mutual TLS).
// --ticket-keys FILE: 48 bytes that encrypt session tickets, so a restarted server still
// resumes the sessions of the one before.
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

function options(argv) {
  const known = ['--cert', '--key', '--port', '--ca', '--ticket-keys'];
  const given = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.includes(argv[i]) || i + 1 >= argv.length) {
      throw new Error(`usage: tls_server.js ${known.map((k) => `${k} VALUE`).join(' ')}; got ${argv[i]}`);
    }
    given[argv[i].slice(2)] = argv[i + 1];
  }
  if (!given.cert || !given.key) {
    throw new Error('--cert and --key are required');
  }
  return given;
}

const given = options(process.argv.slice(2));
const tlsOptions = {
  cert: fs.readFileSync(given.cert),
  key: fs.readFileSync(given.key),
};
if (given.ca) {
  tlsOptions.ca = fs.readFileSync(given.ca);
  tlsOptions.requestCert = true;
  tlsOptions.rejectUnauthorized = true;
}
if (given['ticket-keys']) {
  const keys = fs.readFileSync(given['ticket-keys']);
  if (keys.length !== 48) {
    throw new Error(`--ticket-keys: expected 48 bytes, found ${keys.length}`);
  }
  tlsOptions.ticketKeys = keys;
}

const server = https.createServer(tlsOptions);
server.on('secureConnection', (socket) => {
  console.log(`handshake resumed=${socket.isSessionReused()}`);
});
server.on('tlsClientError', (err) => {
  console.log(`refused ${err.code || err.message}`);
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

server.listen(Number(given.port || 0), '127.0.0.1', () => {
  console.log(server.address().port);
});
// Ends when whatever started it (a test, wschaos) is gone, even if that was killed outright.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) {
    process.exit(0);
  }
}, 500).unref();
