"""A burst of signed Slack requests sent at once, from a process of its own, measuring
each acknowledgement as Slack would see it.

Every request is built and signed, and every connection opened, *before* the clock
starts; then all requests are written in one go and each response is timed from the
moment its request was handed to the kernel. The load generator therefore does almost
nothing while it measures, and shares no event loop with the fakes (which are busy
answering the bot's own Web API calls during the burst).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from tests.fakes.slack_api import sign


def _raw(port: int, body: str, *, form: bool, secret: str) -> bytes:
    data = body.encode()
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "Content-Length": str(len(data)),
        **sign(secret, body),
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST /slack/events HTTP/1.1\r\n{head}\r\n".encode() + data


async def _fire(
    port: int, bodies: list[tuple[str, bool]], secret: str
) -> tuple[list[float], float]:
    raws = [_raw(port, body, form=form, secret=secret) for body, form in bodies]
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in raws))

    sent = []
    for (_, writer), raw in zip(conns, raws, strict=True):
        writer.write(raw)
        sent.append(time.perf_counter())
    acks = await asyncio.gather(
        *(_ack(reader, at) for (reader, _), at in zip(conns, sent, strict=True))
    )
    for _, writer in conns:
        writer.close()
    return list(acks), sent[-1]


async def _paced(
    port: int, bodies: list[tuple[str, bool]], secret: str, every_s: float
) -> list[float]:
    """One request after another, ``every_s`` apart, each on a new connection and
    timed from the moment it is written (connecting is not the bot's work)."""
    acks = []
    for body, form in bodies:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        raw = _raw(port, body, form=form, secret=secret)
        writer.write(raw)
        acks.append(await _ack(reader, time.perf_counter()))
        writer.close()
        await asyncio.sleep(every_s)
    return acks


async def _ack(reader: asyncio.StreamReader, sent: float) -> float:
    status = await reader.readline()
    took = time.perf_counter() - sent
    assert b" 200 " in status, status
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return took


def paced_sync(
    port: int, bodies: list[tuple[str, bool]], secret: str, every_s: float
) -> list[float]:
    return asyncio.run(_paced(port, bodies, secret, every_s))


async def paced(
    port: int, bodies: list[tuple[str, bool]], secret: str, *, every_s: float
) -> list[float]:
    """Acknowledgement latency (seconds) of requests sent one at a time from a process
    of its own, so a busy fake in the bench's process cannot inflate them."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, paced_sync, port, bodies, secret, every_s
        )


def fire_sync(port: int, bodies: list[tuple[str, bool]], secret: str) -> tuple[list[float], float]:
    return asyncio.run(_fire(port, bodies, secret))


async def fire(port: int, bodies: list[tuple[str, bool]], secret: str) -> tuple[list[float], float]:
    """Acknowledgement latency (seconds) of each request, sent all at once, and when
    the last was sent (``time.perf_counter``: the same clock in every process here)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, fire_sync, port, bodies, secret
        )
