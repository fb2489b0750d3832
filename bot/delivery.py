"""What every chat adapter's replier shares: a route (its typed reply state, saved as
JSON as it changes so another worker can resume), throttled status edits, and delivery
of an answer in pieces that skips the pieces an earlier attempt already posted."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from bot.ports import Renderer, SaveRoute
from bot.render import render_chunks


def answer_pieces(text: str, footer: str, renderer: Renderer) -> list[str]:
    """The answer split for the platform, the footer (already in platform format) on
    the last piece when it fits, else on its own."""
    pieces = render_chunks(text, renderer)
    if pieces and len(pieces[-1]) + len(footer) <= renderer.max_chars:
        pieces[-1] += footer
    else:
        pieces.append(footer.strip())
    return pieces


class JsonRoute:
    """Base of the platforms' frozen route dataclasses: to JSON without the unset
    fields, and back."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}  # type: ignore[call-overload]

    @classmethod
    def known(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The set values of ``data`` that name a field: keys an older version saved
        and this one no longer has are left out, so its routes still load."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return {k: v for k, v in data.items() if k in names and v is not None}


class DeliveryRoute(Protocol):
    """A platform's route type: a frozen dataclass that counts the pieces delivered."""

    @property
    def delivered(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=DeliveryRoute)


class RoutedReplier(Generic[R]):
    """Base of the platforms' repliers; subclasses post, edit and name threads."""

    def __init__(
        self,
        route: R,
        save: SaveRoute,
        *,
        edit_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.route = route
        self._save = save
        self._clock = clock
        self._edit_interval_s = edit_interval_s
        self._last_edit = float("-inf")

    async def remember(self, **changes: Any) -> None:
        self.route = dataclasses.replace(self.route, **changes)  # type: ignore[type-var]
        await self._save(self.route.to_json())

    def edited_now(self) -> None:
        self._last_edit = self._clock()

    def edit_due(self) -> bool:
        """Whether a status edit may go out now (platform rate limits); if so, it is
        counted as sent."""
        if self._clock() - self._last_edit < self._edit_interval_s:
            return False
        self.edited_now()
        return True

    async def deliver(
        self,
        pieces: list[str],
        *,
        replace_status: Callable[[str], Awaitable[None]],
        post: Callable[[str], Awaitable[None]],
        has_status: bool,
    ) -> None:
        """Post ``pieces`` in order, the first replacing the status message; after each
        one the route records it, so a resumed attempt never posts it twice."""
        for i, piece in enumerate(pieces):
            if i < self.route.delivered:
                continue
            if i == 0 and has_status:
                await replace_status(piece)
            else:
                await post(piece)
            await self.remember(delivered=i + 1)
