"""A strict third-party client against `wschaos serve`: Python `websockets` sends messages in
fragments and checks the echo is the whole message, text as text, binary as binary; also a
ping and a close code. Not part of `cargo test` (it needs `pip install websockets`):

    cargo build && python3 tests/interop/fragmented_echo.py target/debug/wschaos
"""

import asyncio
import subprocess
import sys

import websockets


async def check(url: str) -> None:
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        await ws.send(["frag", "ment", "ed écho"])  # a list is sent as one fragmented message
        echo = await asyncio.wait_for(ws.recv(), 5)
        assert echo == "fragmented écho", repr(echo)

        await ws.send([b"\x01\x02", b"\x03", b"\x04\x05"])
        echo = await asyncio.wait_for(ws.recv(), 5)
        assert echo == b"\x01\x02\x03\x04\x05", repr(echo)

        await ws.send("whole")
        assert await asyncio.wait_for(ws.recv(), 5) == "whole"

        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)

        await ws.close(code=4000, reason="done")
        assert ws.close_code == 4000, ws.close_code


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/wschaos"
    server = subprocess.Popen([binary, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        addr = server.stdout.readline().strip()
        asyncio.run(check(f"ws://{addr}/"))
    finally:
        server.kill()
        server.wait()
    print("fragmented echo: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
