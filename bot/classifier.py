"""The optional classifier model of ``--model auto`` (``[auto] router_model``).

One tiny request through the `ReasoningModel` port, bounded to two seconds: a router
that makes the asker wait longer than that costs more than a wrong guess. Any failure,
timeout or unreadable reply returns None and the local rules decide alone. The call is
never reserved or committed in the ledger, so no team pays for it.
"""

from __future__ import annotations

import asyncio
import logging

from bot.config import ModelSpec
from bot.domain import Effort, Role, Turn
from bot.errors import BotError
from bot.ports import ModelCall, ReasoningModel
from bot.router import Reason, classifier_prompt, read_label

log = logging.getLogger(__name__)
CLASSIFIER_TIMEOUT_S = 2.0


async def classify(
    model: ReasoningModel,
    spec: ModelSpec,
    question: str,
    *,
    timeout_s: float = CLASSIFIER_TIMEOUT_S,
) -> Reason | None:
    """What ``spec`` makes of ``question``, or None if it cannot say in time."""
    call = ModelCall(
        spec=spec,
        messages=(Turn(Role.USER, classifier_prompt(question)),),
        # As little thinking as the model allows: this is a one-word answer.
        effort=Effort.LOW if Effort.LOW in spec.efforts else None,
    )
    try:
        async with asyncio.timeout(timeout_s):
            reply = await model.complete(call)
    except TimeoutError:
        log.warning("router model %s gave no label within %.1f s", spec.alias, timeout_s)
        return None
    except BotError as exc:
        log.warning("router model %s failed: %r", spec.alias, exc)
        return None
    label = read_label(reply.text)
    if label is None:
        log.warning("router model %s answered no known label", spec.alias)
    return label
