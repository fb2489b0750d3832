"""Per-event parse cost of model streams: our pydantic wire models (`bot.model_wire`)
against the official `openai` package's types, for Chat Completions chunks and Responses
events. Each stream is built as the fake OpenAI server sends it (a reasoning summary and
an answer in ~20-character pieces, as OpenAI streams them); every approach starts from
the SSE ``data`` text, so JSON decoding is counted.

    python bench/parse.py [--rounds 200]     # needs `pip install openai`

Approaches:
  ours        json.loads + the flat lenient/strict models the client uses
  openai      json.loads + the SDK's types validated (TypeAdapter / model_validate)
  openai-sdk  json.loads + `construct_type`, what the SDK's own stream does (no checks)
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    streams = {"chat": chat_stream(), "responses": responses_stream()}
    print(f"events per stream: chat {len(streams['chat'])}, responses {len(streams['responses'])}")
    print(f"{'approach':<12} {'chat µs/event':>14} {'responses µs/event':>19}")
    for name, parse in approaches().items():
        chat = per_event_us(parse["chat"], streams["chat"], args.rounds)
        resp = per_event_us(parse["responses"], streams["responses"], args.rounds)
        print(f"{name:<12} {chat:>14.1f} {resp:>19.1f}")


if __name__ == "__main__":
    main()
