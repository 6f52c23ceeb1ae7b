"""A third-party Socket.IO server (python-socketio on aiohttp) for wschaos's Socket.IO tests.

Listens on 127.0.0.1, prints its port on the first line and its pid on the second, then
`stats {"pings": N, "pongs": N, "sessions": N}` on SIGUSR2 (and at SIGTERM). An `echo`
event is acked with its argument.

    python3 server.py [--port N] [--ping-interval MS] [--ping-timeout MS]

Needs `pip install python-socketio aiohttp`.
"""

import asyncio
import json
import os
import signal
import sys

import socketio
from aiohttp import web
from engineio import async_socket, packet

COUNTS = {"pings": 0, "pongs": 0, "sessions": 0}


def options(argv):
    # Whole seconds: python-engineio writes int(seconds) * 1000 as the open packet's
    # pingInterval, so 300 ms would be announced as 0.
    given = {"port": 0, "ping-interval": 1000, "ping-timeout": 500}
    if len(argv) % 2:
        raise SystemExit(f"usage: server.py {' '.join(f'--{k} N' for k in given)}")
    for key, value in zip(argv[::2], argv[1::2]):
        name = key.removeprefix("--")
        if name not in given or not value.isdigit():
            raise SystemExit(f"usage: server.py {' '.join(f'--{k} N' for k in given)}; got {key}")
        given[name] = int(value)
    return given


def count_heartbeats():
    """Counts the pings engine.io sends and the pongs it receives (its own methods, wrapped)."""
    send, receive = async_socket.AsyncSocket.send, async_socket.AsyncSocket.receive

    async def counting_send(self, pkt):
        if pkt.packet_type == packet.PING:
            COUNTS["pings"] += 1
        return await send(self, pkt)

    async def counting_receive(self, pkt):
        if pkt.packet_type == packet.PONG:
            COUNTS["pongs"] += 1
        return await receive(self, pkt)

    async_socket.AsyncSocket.send = counting_send
    async_socket.AsyncSocket.receive = counting_receive


def print_stats():
    print(f"stats {json.dumps(COUNTS)}", flush=True)


async def main(opts):
    count_heartbeats()
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=opts["ping-interval"] / 1000,
        ping_timeout=opts["ping-timeout"] / 1000,
        transports=["websocket"],
    )

    @sio.event
    async def connect(sid, environ, auth=None):
        COUNTS["sessions"] += 1

    @sio.on("echo")
    async def echo(sid, data):
        return data

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", opts["port"])
    await site.start()
    port = runner.addresses[0][1]
    print(port, flush=True)
    print(os.getpid(), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR2, print_stats)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print_stats()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(options(sys.argv[1:])))
