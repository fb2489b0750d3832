"""Configuration of the core: the model catalogue and quota policy, from a TOML file.
Invalid configuration raises one `ConfigError` naming the field, before anything
connects. (A process's deployment settings, platforms included, are `app.settings`.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain import Effort
from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("reasonbot.toml")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_EFFORTS = (Effort.LOW, Effort.MEDIUM, Effort.HIGH)
# OpenAI's first reasoning models (and their dated snapshots) take neither
# reasoning_effort nor a developer/system message: the provider answers 400.
NO_EFFORT_NO_ROLES = re.compile(r"^o1-(mini|preview)(-|$)")
# OpenAI's chat models do not reason: on the Responses API they refuse `reasoning` and
# encrypted reasoning, so an entry that names one takes neither unless it says so.
DOES_NOT_REASON = re.compile(r"^(gpt-(3\.5|4)|chatgpt-4o)")
# `--model auto` and `default_model = "auto"`: the router picks; no model may take it.
AUTO = "auto"


class ModelSpec(BaseModel):
    """One model of the catalogue, addressed by its alias (``/reason --model mini``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")
    id: str = Field(min_length=1, description="the provider's model id")
    label: str = ""
    weekly_limit: int = Field(ge=0, description="messages per team per week")
    per_user_limit: int | None = Field(default=None, ge=0)
    reasoning_effort: Effort | None = None
    # The `--effort` values this model takes; empty when effort cannot be set. Left
    # out, it follows the model id: none for o1-mini/o1-preview, else all three.
    efforts: tuple[Effort, ...] = ALL_EFFORTS
    max_completion_tokens: int | None = Field(default=None, ge=1)
    # How instructions reach the model: o1-class models take "developer", older
    # reasoning models (o1-mini, some R1 servers) take none, so they are folded into
    # the first user message. Left out, it follows the model id like `efforts`.
    instructions_role: Literal["developer", "system", "user"] = "developer"
    streaming: bool = True
    # Which OpenAI API serves the model: "chat" (Chat Completions: vLLM, Ollama,
    # DeepSeek, Azure chat deployments, llama.cpp) or "responses" (POST /v1/responses,
    # OpenAI's own reasoning models, with reasoning summaries and encrypted reasoning).
    api: Literal["chat", "responses"] = "chat"
    # Reasoning summaries (Responses only): left out, "auto" on responses, "off" on chat.
    reasoning_summary: Literal["auto", "concise", "detailed", "off"] | None = None
    # Pass the model's encrypted reasoning back on follow-ups (Responses only): the
    # next turn continues the same line of thought. Off for models that do not reason.
    keep_reasoning: bool = True
    # What a question may carry; the bot only sends text today, images come later.
    inputs: tuple[Literal["text", "image"], ...] = ("text",)
    base_url: str | None = None
    api_key_env: str | None = None
    # USD per 1M tokens, as providers publish them; left out, answers have no cost.
    # Reasoning tokens are output tokens (providers bill them so).
    price_input: float | None = Field(default=None, ge=0)
    price_cached_input: float | None = Field(default=None, ge=0)
    price_output: float | None = Field(default=None, ge=0)
    # What a team budget holds for one question of this model until its cost is known.
    # Left out: the ceiling, price_output × max_completion_tokens (see `bot.costs`).
    cost_estimate_usd: float | None = Field(default=None, ge=0)
    # The model that answers instead when this one's weekly quota is used up (for the
    # team or the person), if this one was the default or auto's pick; never when the
    # asker named this model with `--model`.
    fallback: str | None = None

    @field_validator("alias")
    @classmethod
    def _not_auto(cls, v: str) -> str:
        if v == AUTO:
            raise ValueError(f"{AUTO!r} is reserved for automatic model choice")
        return v

    @model_validator(mode="before")
    @classmethod
    def _known_limits(cls, data: Any) -> Any:
        # A catalogue written before `efforts` existed (or by someone who does not know
        # o1-mini's limits) must still not send what the provider refuses.
        if isinstance(data, dict) and NO_EFFORT_NO_ROLES.match(str(data.get("id", ""))):
            data = {"efforts": (), "instructions_role": "user", "reasoning_summary": "off", **data}
        if isinstance(data, dict) and DOES_NOT_REASON.match(str(data.get("id", ""))):
            data = {"efforts": (), "reasoning_summary": "off", "keep_reasoning": False, **data}
        return data

    @model_validator(mode="after")
    def _default_effort_is_taken(self) -> ModelSpec:
        if self.reasoning_effort is not None and self.reasoning_effort not in self.efforts:
            taken = ", ".join(self.efforts) or "none"
            raise ValueError(
                f"reasoning_effort {self.reasoning_effort.value!r} is not one of the "
                f"efforts this model takes ({taken})"
            )
        return self

    @model_validator(mode="after")
    def _responses_only(self) -> ModelSpec:
        if self.api == "chat" and self.reasoning_summary not in (None, "off"):
            raise ValueError(
                'reasoning_summary needs api = "responses" (Chat Completions has no summaries)'
            )
        if "text" not in self.inputs:
            raise ValueError('inputs must include "text"')
        return self

    @property
    def summary(self) -> str | None:
        """The ``reasoning.summary`` to ask for, or None when the model gives none."""
        if self.api != "responses":
            return None
        wanted = self.reasoning_summary or "auto"
        return None if wanted == "off" else wanted

    @property
    def name(self) -> str:
        return self.label or self.alias


# The router's built-in vocabulary; `[auto]` replaces any of these lists. Words match
# whole and case-insensitively. Everyday words that only sometimes mean code or maths
# ("class", "function", "limit", "prime", "rust", "react", "series") are left out:
# code and maths are also found by their shape (fences, tracebacks, equations, LaTeX),
# which is far less ambiguous.
# fmt: off
DEFAULT_CODE_KEYWORDS = (
    "python", "javascript", "typescript", "java", "golang", "rustc", "c++", "c#", "kotlin",
    "php", "bash", "sql", "regex", "compile", "compiler", "compiles", "segfault",
    "stack trace", "traceback", "null pointer", "refactor", "debug", "unit test", "api",
    "endpoint", "docker", "kubernetes", "git", "npm", "pip", "async", "mutex", "deadlock",
    "race condition", "recursion", "algorithm", "big-o", "linked list", "hash map",
    "dataframe", "pandas", "numpy", "django",
)
DEFAULT_MATHS_KEYWORDS = (
    "prove", "proof", "proofs", "theorem", "lemma", "integral", "integrals", "integrate",
    "derivative", "derivatives", "differentiate", "equation", "equations", "solve for",
    "eigenvalue", "eigenvalues", "eigenvector", "eigenvectors", "determinant",
    "polynomial", "probability", "expected value", "variance", "limit of", "converge",
    "converges", "prime number", "primes", "modulo", "combinatorics", "how many ways",
    "calculus", "logarithm", "factorial",
)
DEFAULT_THINK_HARD_PHRASES = (
    "think hard", "think harder", "think carefully", "think deeply", "step by step",
    "step-by-step", "take your time", "reason carefully", "in depth", "in-depth",
    "rigorous", "rigorously", "thoroughly",
)
# fmt: on


class AutoPolicy(BaseModel):
    """``[auto]``: how ``--model auto`` picks. Every field has a working default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Cheapest first. Left out: the catalogue's models that can be asked (weekly_limit
    # above 0), the largest weekly allowance first (see `Catalogue.auto_candidates`).
    candidates: tuple[str, ...] | None = Field(default=None, min_length=1)
    # A question at least this long is worth a stronger model...
    long_question_chars: int = Field(default=800, ge=1)
    # ...and so is a thread with at least this many earlier turns (question or answer).
    long_conversation_turns: int = Field(default=6, ge=1)
    code_keywords: tuple[str, ...] = DEFAULT_CODE_KEYWORDS
    maths_keywords: tuple[str, ...] = DEFAULT_MATHS_KEYWORDS
    think_hard_phrases: tuple[str, ...] = DEFAULT_THINK_HARD_PHRASES
    # A catalogue model asked to classify each question (bounded to 2 s, never charged);
    # unset, the local rules decide alone.
    router_model: str | None = None

    @field_validator("candidates")
    @classmethod
    def _no_repeats(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            v = tuple(a.lower() for a in v)
            if len(set(v)) != len(v):
                raise ValueError("lists a model more than once")
        return v


class WeekPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    starts_on: str = "monday"
    timezone: str = "UTC"

    @field_validator("starts_on")
    @classmethod
    def _weekday(cls, v: str) -> str:
        if v.lower() not in WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
        return v.lower()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def weekday(self) -> int:
        return WEEKDAYS.index(self.starts_on)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _default_models() -> list[ModelSpec]:
    # Mirrors ChatGPT's o1 launch: o1-preview 30 messages a week, o1-mini 50.
    return [
        ModelSpec(alias="o1", id="o1", label="o1", weekly_limit=30, api="responses"),
        ModelSpec(
            alias="mini",
            id="o1-mini",
            label="o1-mini",
            weekly_limit=50,
            efforts=(),
            instructions_role="user",
        ),
    ]


class Catalogue(BaseModel):
    """The TOML file: models, quota policy and limits of the conversation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_model: str = "o1"
    models: list[ModelSpec] = Field(default_factory=_default_models, min_length=1)
    week: WeekPolicy = Field(default_factory=WeekPolicy)
    # "slack:T0001:U123" is an admin of that team only; "U123" or "slack:U123" of all.
    admins: list[str] = Field(default_factory=list, description="user keys that are admins")
    instructions: str = (
        "You are reasonbot, answering a team in a chat thread. Answer in Markdown; be"
        " precise and say when you are unsure."
    )
    max_prompt_chars: int = Field(default=20_000, ge=1)
    max_history_turns: int = Field(default=40, ge=0)
    progress_every_s: float = Field(default=10.0, gt=0)
    auto: AutoPolicy = Field(default_factory=AutoPolicy)
    # The answer's cost in its footer (needs prices on the model).
    show_cost: bool = False
    # The model's reasoning while it thinks: "live" shows it, then collapses it to one
    # line above the answer; "keep" keeps its end as a short quote above the answer;
    # "off" never shows it.
    show_reasoning: Literal["live", "keep", "off"] = "live"
    # Percentages of a model's weekly team allowance that alert the notify channel.
    alert_at: tuple[int, ...] = (80, 100)

    @field_validator("alert_at")
    @classmethod
    def _percentages(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= p <= 100 for p in v):
            raise ValueError("each threshold is a percentage from 1 to 100")
        return tuple(sorted(set(v)))

    @field_validator("models")
    @classmethod
    def _unique_aliases(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        seen: set[str] = set()
        for m in models:
            if m.alias in seen:
                raise ValueError(f"duplicate model alias {m.alias!r}")
            seen.add(m.alias)
        return models

    @model_validator(mode="after")
    def _default_exists(self) -> Catalogue:
        if self.default_model not in self.choices:
            raise ValueError(
                f"default_model {self.default_model!r} is not one of {', '.join(self.choices)}"
            )
        return self

    @model_validator(mode="after")
    def _auto_names_models(self) -> Catalogue:
        for alias in (*(self.auto.candidates or ()), self.auto.router_model):
            if alias is not None and alias not in self.aliases:
                raise ValueError(
                    f"[auto] names {alias!r}, which is not one of {', '.join(self.aliases)}"
                )
        return self

    @model_validator(mode="after")
    def _fallbacks_form_chains(self) -> Catalogue:
        for m in self.models:
            if m.fallback is not None and m.fallback not in self.aliases:
                raise ValueError(
                    f"model {m.alias!r} falls back to {m.fallback!r}, which is not one of "
                    f"{', '.join(self.aliases)}"
                )
        for m in self.models:
            seen = [m.alias]
            nxt = m.fallback
            while nxt is not None:
                if nxt in seen:
                    loop = " → ".join((*seen[seen.index(nxt) :], nxt))
                    raise ValueError(f"fallbacks go round in a circle: {loop}")
                seen.append(nxt)
                nxt = self._spec(nxt).fallback
        return self

    def _spec(self, alias: str) -> ModelSpec:
        return next(m for m in self.models if m.alias == alias)

    def fallback_chain(self, alias: str) -> tuple[str, ...]:
        """``alias`` and the models that answer in its place, in order (validated: no
        circles, every link a model of the catalogue)."""
        chain = [alias]
        spec = self.get(alias)
        while spec is not None and spec.fallback is not None:
            chain.append(spec.fallback)
            spec = self.get(spec.fallback)
        return tuple(chain)

    @property
    def fallback_chains(self) -> tuple[tuple[str, ...], ...]:
        """Every chain as `/quota` shows it, from each model no other falls back to."""
        targets = {m.fallback for m in self.models}
        return tuple(
            self.fallback_chain(m.alias)
            for m in self.models
            if m.fallback is not None and m.alias not in targets
        )

    @property
    def choices(self) -> tuple[str, ...]:
        """What ``--model`` takes: every alias, and ``auto``."""
        return (*self.aliases, AUTO)

    @property
    def auto_candidates(self) -> tuple[str, ...]:
        """The models ``auto`` picks among, cheapest first. Without ``[auto]
        candidates``, the largest weekly allowance first: a catalogue has no prices,
        but the model a team gets most of (ChatGPT's o1-mini 50 a week, o1 30) is the
        one meant for everyday questions. A model nobody can ask (limit 0, e.g. one kept
        only as the `router_model`) is left out, unless no model can be asked at all."""
        if self.auto.candidates is not None:
            return self.auto.candidates
        usable = [m for m in self.models if m.weekly_limit > 0] or self.models
        return tuple(m.alias for m in sorted(usable, key=lambda m: -m.weekly_limit))

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(m.alias for m in self.models)

    def get(self, alias: str) -> ModelSpec | None:
        for m in self.models:
            if m.alias == alias.lower():
                return m
        return None


def describe_invalid(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: {where}: {err['msg']}")
    return "; ".join(lines)


def load_catalogue(path: Path | None) -> Catalogue:
    """Read the TOML catalogue; without a path, ``./reasonbot.toml`` if present, else
    the built-in defaults (o1 30/week, mini 50/week)."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return Catalogue()
        path = DEFAULT_CONFIG_PATH
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"REASONBOT_CONFIG: no such file {str(path)!r}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_invalid(exc, str(path))) from exc
