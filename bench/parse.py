"""Per-event parse cost of model streams: our pydantic wire models (`bot.model_wire`)
against the official `openai` package's types, for Chat Completions chunks and Responses
events. Each stream is built as the fake OpenAI server sends it (a reasoning summary and
an answer in ~20-character pieces, as OpenAI streams them); every approach starts from
the SSE ``data`` text, so JSON decoding is counted.

    python bench/parse.py [--rounds 200]     # needs `pip install openai`

The second table is the whole per-event path of a streamed answer in the client: the
stream readers (`ChatReader`, `ResponsesReader`) fed every event, with the callbacks
the service passes: answer text only, and answer text plus the reasoning so far
(``show_reasoning = "live"``: each reasoning delta hands the whole reasoning so far,
mentions neutralised, to the progress pump, which cuts it to its tail per update).

Approaches:
  ours        json.loads + the flat lenient/strict models the client uses
  openai      json.loads + the SDK's types validated (TypeAdapter / model_validate)
  openai-sdk  json.loads + `construct_type`, what the SDK's own stream does (no checks)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import model_wire
from bot.model_chat import ChatReader
from bot.model_responses import ResponsesReader
from bot.render import reasoning_tail
from tests.fakes.openai_responses import ResponseBuilder, usage

ANSWER = "Rayleigh scattering makes short wavelengths scatter more. " * 20
SUMMARY = "**Recalling optics**\n\nBlue light has a shorter wavelength than red. " * 6
PIECE = 20


def responses_stream() -> list[str]:
    body = {
        "model": "o3",
        "input": [{"role": "user", "content": "why is the sky blue?"}],
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    events = ResponseBuilder(body).events(
        ANSWER,
        summary=SUMMARY,
        reasons=True,
        pieces=len(ANSWER) // PIECE,
        finish="stop",
        usage=usage(body, ANSWER, SUMMARY),
    )
    return [json.dumps({**e, "sequence_number": i}) for i, e in enumerate(events)]


def chat_stream() -> list[str]:
    def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> str:
        return json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "deepseek-reasoner",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                "usage": None,
            }
        )

    out = [chunk({"role": "assistant", "content": ""})]
    out += [
        chunk({"reasoning_content": SUMMARY[i : i + PIECE]}) for i in range(0, len(SUMMARY), PIECE)
    ]
    out += [chunk({"content": ANSWER[i : i + PIECE]}) for i in range(0, len(ANSWER), PIECE)]
    out.append(chunk({}, "stop"))
    return out


def approaches() -> dict[str, dict[str, Callable[[str], object]]]:
    found: dict[str, dict[str, Callable[[str], object]]] = {
        "ours": {
            "chat": lambda d: model_wire.chunk(json.loads(d)),
            "responses": lambda d: model_wire.event(json.loads(d)),
        }
    }
    try:
        from openai._models import construct_type
        from openai.types.chat import ChatCompletionChunk
        from openai.types.responses import ResponseStreamEvent
        from pydantic import TypeAdapter
    except ImportError:
        print("openai is not installed: only our models are measured", file=sys.stderr)
        return found
    events: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    found["openai"] = {
        "chat": lambda d: ChatCompletionChunk.model_validate(json.loads(d)),
        "responses": lambda d: events.validate_python(json.loads(d)),
    }
    found["openai-sdk"] = {
        "chat": lambda d: construct_type(type_=ChatCompletionChunk, value=json.loads(d)),
        "responses": lambda d: construct_type(type_=ResponseStreamEvent, value=json.loads(d)),
    }
    return found


def per_event_us(parse: Callable[[str], object], stream: list[str], rounds: int) -> float:
    for data in stream:  # warm up (and fail early on a shape one side cannot read)
        parse(data)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for data in stream:
            parse(data)
        samples.append((time.perf_counter() - start) / len(stream) * 1e6)
    return statistics.median(samples)


def reader_per_event_us(api: str, stream: list[str], rounds: int, *, reasoning: bool) -> float:
    """µs per event through a whole stream reader, callbacks included."""
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    async def on_reasoning(text: str) -> None:
        seen.append(text)

    def reader() -> ChatReader | ResponsesReader:
        hook = on_reasoning if reasoning else None
        if api == "chat":
            return ChatReader(on_text, hook, time.perf_counter, 0.0)
        return ResponsesReader(
            model_id="o3", on_text=on_text, on_reasoning=hook, clock=time.perf_counter, started=0
        )

    async def once() -> float:
        r = reader()
        start = time.perf_counter()
        for data in stream:
            await r.feed(data)
        r.finish()
        took = time.perf_counter() - start
        if reasoning:
            # What the pump does with it, once per progress update (not per event).
            reasoning_tail(seen[-1])
        seen.clear()
        return took / len(stream) * 1e6

    async def run() -> float:
        await once()
        return statistics.median([await once() for _ in range(rounds)])

    return asyncio.run(run())


def main() -> None:
    global SUMMARY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument(
        "--reasoning-chars",
        type=int,
        default=len(SUMMARY),
        help="length of the streamed reasoning (R1 often thinks 10,000+ characters)",
    )
    args = ap.parse_args()
    SUMMARY = (SUMMARY * (args.reasoning_chars // len(SUMMARY) + 1))[: args.reasoning_chars]
    streams = {"chat": chat_stream(), "responses": responses_stream()}
    print(f"events per stream: chat {len(streams['chat'])}, responses {len(streams['responses'])}")
    print(f"{'approach':<12} {'chat µs/event':>14} {'responses µs/event':>19}")
    for name, parse in approaches().items():
        chat = per_event_us(parse["chat"], streams["chat"], args.rounds)
        resp = per_event_us(parse["responses"], streams["responses"], args.rounds)
        print(f"{name:<12} {chat:>14.1f} {resp:>19.1f}")
    print(f"\n{'whole reader':<24} {'chat µs/event':>14} {'responses µs/event':>19}")
    for label, hook in (("answer text only", False), ("+ reasoning (live)", True)):
        chat = reader_per_event_us("chat", streams["chat"], args.rounds, reasoning=hook)
        resp = reader_per_event_us("responses", streams["responses"], args.rounds, reasoning=hook)
        print(f"{label:<24} {chat:>14.1f} {resp:>19.1f}")


if __name__ == "__main__":
    main()
