"""The CPU cost of Slack's HTTP intake per request, before any listener work: the early
refusals of `adapters.slack.http`, the signature check and bolt's middleware, for a
signed `/reason` whose listener only acknowledges. Sequential requests to a bare bolt app
(no database, no model), so the figure is the intake's own, not the machine's load.

Compares this code (bolt verifies the signature, `app_rate_limited` noted by a bolt
middleware) with the previous arrangement, kept below: slack_sdk's verifier in front of
bolt and bolt's verification off.

    python bench/slack_intake.py [--n 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from adapters.slack.http import (
    RateLimitedNote,
    signature_headers_well_formed,
    slack_routes,
    well_formed,
)
from tests.fakes.slack_api import sign, slash_command

SECRET = "bench-secret"


async def _authorize(team_id: str | None) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token="xoxb-b")


def bolt_app(*, verifies: bool) -> AsyncApp:
    app = AsyncApp(
        signing_secret=SECRET,
        authorize=_authorize,
        request_verification_enabled=verifies,
        before_authorize=RateLimitedNote() if verifies else None,
        process_before_response=True,
    )

    @app.command("/reason")
    async def reason(ack: Any) -> None:
        await ack()

    return app


def previous_events(app: AsyncApp) -> Any:
    """The handler as it was: slack_sdk's verifier before bolt, bolt's check off."""
    verifier = SignatureVerifier(SECRET)

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature_headers_well_formed(request.headers):
            return web.json_response({}, status=401)
        body = raw.decode("utf-8")
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.json_response({}, status=401)
        if not well_formed(body, request.content_type):
            return web.json_response({}, status=400)
        if "app_rate_limited" in body:
            return web.json_response({"ok": True})
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return events


def current_events(app: AsyncApp) -> Any:
    return next(r.handler for r in slack_routes(app) if r.method == "POST")  # type: ignore[attr-defined]


async def per_request_us(handler: Any, n: int) -> float:
    body = slash_command("/reason", "how far is the moon?")
    headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    requests = []
    for _ in range(n):
        req = make_mocked_request("POST", "/slack/events", headers=headers)
        req._read_bytes = body.encode()  # the body as aiohttp would have read it
        requests.append(req)
    started = time.process_time()
    for req in requests:
        resp = await handler(req)
        assert resp.status == 200, resp.status
    return (time.process_time() - started) / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    handlers = {
        "previous (slack_sdk verifier, bolt's off)": previous_events(bolt_app(verifies=False)),
        "this code (bolt verifies)": current_events(bolt_app(verifies=True)),
    }
    for handler in handlers.values():
        await per_request_us(handler, 200)  # warm-up
    results: dict[str, list[float]] = {name: [] for name in handlers}
    order = list(handlers.items())
    for _ in range(args.rounds):  # interleaved, so a busy moment hits both alike
        order.reverse()  # and each goes first in turn
        for name, handler in order:
            results[name].append(await per_request_us(handler, args.n))
    print(f"CPU per signed /reason through the intake, µs ({args.rounds} × {args.n} requests)")
    for name, values in results.items():
        print(f"{name:<44} median {statistics.median(values):7.1f}  min {min(values):7.1f}")


if __name__ == "__main__":
    asyncio.run(main())
