// A third-party GraphQL over WebSocket server for wschaos's graphql-ws tests: the `graphql-ws`
// package's own server (`graphql-transport-ws`) on the `ws` package, with `graphql`'s executor.
// Prints its port on the first line, then, whenever its counts changed (at most every 200 ms,
// and once more when it is told to stop), a line
//
//   stats {"connection_init":N,"ping":N,"pong":N,"subscribe":N,"complete":N,"other":N,
//          "pinging_connections":N}
//
// counting the messages it received from clients, by type (totals since start), and the
// connections that sent at least one ping.
//
//   node graphql_ws_server.js [--port N] [--rate N]
//
// --port N: listen on 127.0.0.1:N (default 0: a free port).
// --rate N: ticks per second of the `counter` subscription (default 10). One ticker for the
//   whole server: every subscriber gets each tick from when it subscribed, as
//   `{"seq": <ticks since 00:00 UTC>, "sent_at": <microseconds since the UNIX epoch>}`, so a
//   client that reconnects sees how many ticks it missed, also across a server restart.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');
const {
  GraphQLFloat,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
} = require('graphql');

function options(argv) {
  const given = { port: 0, rate: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const value = Number(argv[i + 1]);
    if (!['--port', '--rate'].includes(key) || !Number.isFinite(value) || value < 0) {
      throw new Error(`usage: graphql_ws_server.js [--port N] [--rate N]; got ${argv[i]} ${argv[i + 1]}`);
    }
    given[key.slice(2)] = value;
  }
  if (!(given.rate > 0 && given.rate <= 1000)) {
    throw new Error(`--rate: expected 0 < N <= 1000, got ${given.rate}`);
  }
  return given;
}

const given = options(process.argv.slice(2));

// The ticker: tick n is due n / rate seconds after 00:00 UTC (so a restarted server goes on
// with the sequence, and a late timer catches up).
const subscribers = new Set();
const midnight = new Date();
midnight.setUTCHours(0, 0, 0, 0);
const dueSeq = () => Math.floor(((Date.now() - midnight.getTime()) / 1000) * given.rate);
let seq = dueSeq();
setInterval(() => {
  const due = dueSeq();
  while (seq < due) {
    seq += 1;
    const tick = { seq, sent_at: Math.round((performance.timeOrigin + performance.now()) * 1000) };
    for (const deliver of subscribers) {
      deliver(tick);
    }
  }
}, Math.max(1, Math.floor(1000 / given.rate / 2)));

async function* ticks() {
  const queue = [];
  let wake = null;
  const deliver = (tick) => {
    queue.push(tick);
    if (wake) {
      wake();
      wake = null;
    }
  };
  subscribers.add(deliver);
  try {
    for (;;) {
      while (queue.length > 0) {
        yield { counter: queue.shift() };
      }
      await new Promise((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    subscribers.delete(deliver);
  }
}

const Tick = new GraphQLObjectType({
  name: 'Tick',
  fields: {
    seq: { type: new GraphQLNonNull(GraphQLInt) },
    // Microseconds since the epoch do not fit GraphQL's 32-bit Int.
    sent_at: { type: new GraphQLNonNull(GraphQLFloat) },
  },
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { seq: { type: new GraphQLNonNull(GraphQLInt), resolve: () => seq } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      counter: { type: new GraphQLNonNull(Tick), subscribe: ticks },
    },
  }),
});

// What clients sent, by message type.
const received = {
  connection_init: 0,
  ping: 0,
  pong: 0,
  subscribe: 0,
  complete: 0,
  other: 0,
  pinging_connections: 0,
};
const types = ['connection_init', 'ping', 'pong', 'subscribe', 'complete'];
let printed = '';
function printStats() {
  const line = `stats ${JSON.stringify(received)}`;
  if (line !== printed) {
    printed = line;
    process.stdout.write(`${line}\n`);
  }
}

const server = http.createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => {
  let pinged = false;
  socket.on('message', (data) => {
    let type = 'other';
    try {
      const message = JSON.parse(String(data));
      if (types.includes(message.type)) {
        type = message.type;
      }
    } catch {
      // Not JSON: counted as other (the graphql-ws server closes the socket with 4400).
    }
    received[type] += 1;
    if (type === 'ping' && !pinged) {
      pinged = true;
      received.pinging_connections += 1;
    }
  });
});
useServer({ schema }, wss);

server.listen(given.port, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
  setInterval(printStats, 200);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    printStats();
    process.exit(0);
  });
}
