"""What the chat checks before the first question, so a missing key or a wrong base URL
is named once, up front, instead of surfacing as "the provider is unavailable" on every
question: which key variables are unset, and whether each provider's host can be reached
(a TCP connection, and the TLS handshake for https; no request is sent or charged)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapters.terminal import messages as terminal_messages
from app.settings import Settings, api_key_for
from bot.config import Catalogue, ModelSpec

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Provider:
    """One base URL of the catalogue, the key variable it needs, the models on it."""

    url: str
    variable: str  # OPENAI_API_KEY, or the model's api_key_env
    models: tuple[str, ...]
    has_key: bool

    @property
    def url_variable(self) -> str:
        return "OPENAI_BASE_URL" if self.variable == "OPENAI_API_KEY" else "base_url"


def providers(settings: Settings, catalogue: Catalogue) -> list[Provider]:
    groups: dict[tuple[str, str], list[ModelSpec]] = {}
    for spec in catalogue.models:
        url = spec.base_url or settings.openai_base_url
        groups.setdefault((url, spec.api_key_env or "OPENAI_API_KEY"), []).append(spec)
    return [
        Provider(
            url=url,
            variable=variable,
            models=tuple(s.alias for s in specs),
            has_key=api_key_for(specs[0], settings) is not None,
        )
        for (url, variable), specs in groups.items()
    ]


def is_local(url: str) -> bool:
    """A server on this machine or the private network (Ollama, vLLM, llama.cpp): those
    usually need no key."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith((".local", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def needs_key(provider: Provider) -> bool:
    return not provider.has_key and not is_local(provider.url)


def why_unreachable(exc: BaseException) -> str:
    """A connection failure in a few words, from the first cause that says what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        match seen:
            case ConnectionRefusedError():
                return "connection refused"
            case socket.gaierror():
                return "the host name does not resolve"
            case ssl.SSLCertVerificationError():
                return f"TLS certificate not accepted: {seen.verify_message}"
            case ssl.SSLError():
                return f"TLS handshake failed: {seen.reason or seen}"
            case TimeoutError():
                return "no answer within the time limit"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


async def reach(url: str, *, within_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None if ``url``'s host accepts a connection (and a TLS handshake for https);
    else why not."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname
    if not host or parts.scheme not in ("http", "https"):
        return "not an http(s) URL"
    port = parts.port or (443 if secure else 80)
    try:
        async with asyncio.timeout(within_s):
            _, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
    except (OSError, TimeoutError) as exc:
        return why_unreachable(exc)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the check is done; how the peer closed does not matter
    return None


async def preflight(settings: Settings, catalogue: Catalogue) -> list[str]:
    """Warnings to show before the first question (Markdown), each problem once."""
    found = providers(settings, catalogue)
    warnings = [terminal_messages.missing_key(p.variable, p.models) for p in found if needs_key(p)]
    reasons = await asyncio.gather(*(reach(p.url) for p in found))
    warnings += [
        terminal_messages.unreachable(p.url, reason, p.url_variable)
        for p, reason in zip(found, reasons, strict=True)
        if reason is not None
    ]
    return warnings
