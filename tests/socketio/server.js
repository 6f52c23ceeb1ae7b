// A third-party Socket.IO server (the `socket.io` package, 4.x) for wschaos's Socket.IO tests.
// Listens on 127.0.0.1, prints its port on the first line and its pid on the second, then one
// line per event the tests read:
//
//   closed <reason> <ms since its last ping, or -1> [stopped]  an Engine.IO session ended
//                                                               (stopped: after SIGUSR1)
//   left <reason>                      a socket left namespace `/` (`client_namespace_disconnect`:
//                                      the client sent `41`)
//   stopped-pinging <sessions>                                      after SIGUSR1
//   stats {"pings":N,"pongs":N,"sessions":N,"refused":N}            on SIGUSR2 and at SIGTERM
//
//   node server.js [--port N] [--ping-interval MS] [--ping-timeout MS] [--push-interval MS]
//
// Namespace `/`: an `echo` event is acked with its arguments. Namespace `/private` refuses a
// connect whose auth has no `token: "secret"` (a connect error). --push-interval MS: every MS
// the server emits `tick` {seq, sent_at (microseconds since the epoch)} to every socket of `/`.
// SIGUSR1: the sessions open now stop pinging (new ones ping as usual), so their clients must
// declare the server dead on their own.
'use strict';

const http = require('http');
const { Server } = require('socket.io');

function options(argv) {
  const given = { port: 0, 'ping-interval': 300, 'ping-timeout': 200, 'push-interval': 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in given) || i + 1 >= argv.length || !/^\d+$/.test(argv[i + 1])) {
      throw new Error(`usage: server.js ${Object.keys(given).map((k) => `--${k} N`).join(' ')}; got ${argv[i]}`);
    }
    given[key] = Number(argv[i + 1]);
  }
  return given;
}

const opts = options(process.argv.slice(2));
const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: opts['ping-interval'],
  pingTimeout: opts['ping-timeout'],
  transports: ['websocket'],
  serveClient: false,
});

const counts = { pings: 0, pongs: 0, sessions: 0, refused: 0 };

io.engine.on('connection', (session) => {
  counts.sessions += 1;
  let lastPing = null;
  session.on('packetCreate', (packet) => {
    if (packet.type === 'ping') {
      counts.pings += 1;
      lastPing = Date.now();
    }
  });
  session.on('packet', (packet) => {
    if (packet.type === 'pong') {
      counts.pongs += 1;
    }
  });
  session.on('close', (reason) => {
    const since = lastPing === null ? -1 : Date.now() - lastPing;
    const stopped = session.stoppedPinging ? ' stopped' : '';
    console.log(`closed ${reason.replace(/\s+/g, '_')} ${since}${stopped}`);
  });
});

io.on('connection', (socket) => {
  socket.on('disconnect', (reason) => console.log(`left ${reason.replace(/\s+/g, '_')}`));
  socket.on('echo', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (ack) {
      ack(...args);
    }
  });
});

io.of('/private').use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === 'secret') {
    next();
  } else {
    counts.refused += 1;
    next(new Error('not authorized'));
  }
});
io.of('/private').on('connection', (socket) => {
  socket.on('echo', (data, ack) => typeof ack === 'function' && ack(data));
});

if (opts['push-interval'] > 0) {
  let seq = 0;
  setInterval(() => {
    seq += 1;
    const nowUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
    io.emit('tick', { seq, sent_at: nowUs });
  }, opts['push-interval']);
}

// The sessions open now send no more pings (their timers are engine.io's own fields).
process.on('SIGUSR1', () => {
  let stopped = 0;
  for (const session of Object.values(io.engine.clients)) {
    clearTimeout(session.pingIntervalTimer);
    clearTimeout(session.pingTimeoutTimer);
    session.pingIntervalTimer = null;
    session.pingTimeoutTimer = null;
    session.schedulePing = () => {};
    session.resetPingTimeout = () => {};
    session.stoppedPinging = true;
    stopped += 1;
  }
  console.log(`stopped-pinging ${stopped}`);
});

process.on('SIGUSR2', () => console.log(`stats ${JSON.stringify(counts)}`));
process.on('SIGTERM', () => {
  console.log(`stats ${JSON.stringify(counts)}`);
  process.exit(0);
});

httpServer.listen(opts.port, '127.0.0.1', () => {
  console.log(httpServer.address().port);
  console.log(process.pid);
});
