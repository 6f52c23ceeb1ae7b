"""An echo server in Python `websockets`, which accepts permessage-deflate by default (server
window 12 bits, client window 12 bits): the third-party peer of tests/it/deflate.rs and
bench/deflate_cost.py. Prints its port on line 1, then `open <Sec-WebSocket-Extensions it
answered>` for every connection and `binary <hex>` for every binary message it receives. Exits
when its stdin closes (its parent went away).

    python3 tests/interop/deflate_echo_server.py [--small-window | --off]

--small-window: no context takeover either way, client window 9 bits, server window 10 bits.
--off: no compression.
"""

import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def echo(ws) -> None:
    print("open", ws.response.headers.get("Sec-WebSocket-Extensions", "-"), flush=True)
    async for message in ws:
        if isinstance(message, bytes):
            print("binary", message.hex(), flush=True)
        await ws.send(message)


async def main() -> None:
    options = {"max_size": 16 * 1024 * 1024}
    if "--off" in sys.argv:
        options["compression"] = None
    elif "--small-window" in sys.argv:
        options["extensions"] = [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=10,
                client_max_window_bits=9,
            )
        ]
    async with serve(echo, "127.0.0.1", 0, **options) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
