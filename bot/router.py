"""Automatic model choice (``--model auto``): local rules anyone can read, no model call.

The question (and its thread) gets the strongest *tier* any rule asks for, and the tier
maps onto the ``[auto]`` candidates, cheapest first:

    explicit "think hard" / maths ......... heavy     → the last candidate
    code / long question / long thread .... standard  → the middle one (with two: the last)
    anything else ......................... light     → the first

Code and maths are found by their shape (fences, tracebacks, code lines, equations,
LaTeX, maths symbols), which rarely misfires, and by keyword lists that `[auto]` may
replace. Pure and synchronous: a decision costs microseconds (see ``bench/router.py``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import AutoPolicy, Catalogue


class Tier(enum.IntEnum):
    LIGHT = 0
    STANDARD = 1
    HEAVY = 2


class Reason(enum.StrEnum):
    """Why a model was chosen; `bot.messages.auto_reason` says it in words."""

    SHORT = "short"
    EVERYDAY = "everyday"
    LONG_QUESTION = "long_question"
    LONG_CONVERSATION = "long_conversation"
    CODE = "code"
    MATHS = "maths"
    HARD = "hard"  # a classifier model judged it needs careful reasoning
    THINK_HARD = "think_hard"


TIERS: dict[Reason, Tier] = {
    Reason.SHORT: Tier.LIGHT,
    Reason.EVERYDAY: Tier.LIGHT,
    Reason.LONG_QUESTION: Tier.STANDARD,
    Reason.LONG_CONVERSATION: Tier.STANDARD,
    Reason.CODE: Tier.STANDARD,
    Reason.MATHS: Tier.HEAVY,
    Reason.HARD: Tier.HEAVY,
    Reason.THINK_HARD: Tier.HEAVY,
}
# Below this (about one line) a question with no other signal is "short" rather than
# "everyday": only the words of the footer change, never the model.
SHORT_QUESTION_CHARS = 120

# Each shape is its own pattern, found only when a cheap literal test passes (`in` is a
# C scan): `re` tries a pattern that starts with a class or a lookaround at every
# character, which costs hundreds of µs on a page of prose (see bench/router.py).
_Shape = tuple[tuple[str, ...], re.Pattern[str]]


def _shapes(*shapes: tuple[tuple[str, ...], str]) -> tuple[_Shape, ...]:
    return tuple((needles, re.compile(p, re.MULTILINE)) for needles, p in shapes)


_CODE_SHAPES = _shapes(
    (("```",), r"```"),
    (("Traceback",), r"Traceback \(most recent call last\)"),
    (('File "',), r'File "[^"\n]+", line \d+'),
    (("at ",), r"\n[ \t]+at [\w$.<>/]+\(.*\)[ \t]*$"),  # Java/JavaScript stack frames
    (("Error", "Exception"), r"[A-Z]\w*(?:Error|Exception)\b"),  # TypeError, ...
    (
        ("(", ":", "{", "="),
        r"^[ \t]*(?:async[ \t]+def|def|class|fn|func|function|public|private|static|"
        r"const|let|var)[ \t]+\w+.*[(:{=]",
    ),
    (
        ("import", "#include", "package"),
        r"^[ \t]*(?:import[ \t]+\w|from[ \t]+[\w.]+[ \t]+import\b|#include[ \t]*[<\"]|"
        r"package[ \t]+\w)",
    ),
    ((".",), r"\.[A-Za-z_]\w*\([^()\n]*\)"),  # a method call: df.groupby(...), console.log()
    (("`",), r"`[^`\n]*[(=_.][^`\n]*`"),  # inline code that looks like code, not a word
    (("&&", "||", "==", "!=", "=>", "++", "::"), r"&&|\|\||==|!=|=>|\+\+|::"),
)
_MATHS_SHAPES = _shapes(
    (
        ("\\",),
        r"\\(?:frac|int|sum|sqrt|prod|lim|infty|partial|begin\{|cdot|leq|geq|mathbb|"
        r"alpha|beta|theta|pi|sigma|lambda)\b",
    ),
    (tuple("∫∑∏√∞≤≥≠∂∀∃∈±"), r"[∫∑∏√∞≤≥≠∂∀∃∈±]"),
    (("^", "**"), r"(?<![\w.])\d*[a-z]\s*(?:\^|\*\*)\s*[\d({a-z]"),  # x^2, 3x**2, e^{i}
    (("=",), r"(?<![\w.])\d+[a-z](?![\w.])\s*[-+=]"),  # 2x + 1 = 5, 3y = 6
    (("=",), r"(?<![\w.])[a-z]\s*[-+*/]\s*\d+\s*="),  # x + 3 = 7
    (("=",), r"(?<![\w.])[a-z]\([a-z0-9]\)\s*="),  # f(x) =
    (("/d",), r"\bd[a-z]?/d[a-z]\b"),  # dy/dx, d/dx
)


def _has_shape(question: str, shapes: tuple[_Shape, ...]) -> bool:
    return any(
        any(needle in question for needle in needles) and pattern.search(question)
        for needles, pattern in shapes
    )


class _Words:
    """Whole-word search for a list of words and phrases, in lower-cased text."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = tuple(sorted({w.strip().lower() for w in words if w.strip()}))

    def search(self, lowered: str) -> bool:
        # One C-speed `find` per word beats one big regex alternation here, which `re`
        # would try at every character.
        for word in self._words:
            at = lowered.find(word)
            while at != -1:
                if not _is_word(lowered, at - 1) and not _is_word(lowered, at + len(word)):
                    return True
                at = lowered.find(word, at + 1)
        return False


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


@dataclass(frozen=True, slots=True)
class Choice:
    """The model ``auto`` picked and why; ``by`` names a classifier model that helped."""

    alias: str
    reason: Reason
    by: str | None = None

    @property
    def tier(self) -> Tier:
        return TIERS[self.reason]


class Router:
    """Picks a catalogue model for a question from ``[auto]`` (or its defaults)."""

    def __init__(self, policy: AutoPolicy, candidates: tuple[str, ...]) -> None:
        self.policy = policy
        self.candidates = candidates
        self._code = _Words(policy.code_keywords)
        self._maths = _Words(policy.maths_keywords)
        self._think_hard = _Words(policy.think_hard_phrases)

    @classmethod
    def for_catalogue(cls, catalogue: Catalogue) -> Router:
        return cls(catalogue.auto, catalogue.auto_candidates)

    def choose(
        self, question: str, *, history_depth: int = 0, classified: Reason | None = None
    ) -> Choice:
        """The model for ``question`` in a thread of ``history_depth`` earlier turns.

        ``classified`` is a classifier model's reading of the question: it replaces the
        rules about the question's content, while an explicit "think hard" and a long
        thread still count (the classifier sees neither the asker's wish nor the thread).
        """
        lowered = question.lower()
        reason = self._strongest(self._signals(question, lowered, history_depth, classified))
        if reason is None:
            reason = Reason.SHORT if len(question) < SHORT_QUESTION_CHARS else Reason.EVERYDAY
        return Choice(self._candidate(TIERS[reason]), reason)

    def _signals(
        self, question: str, lowered: str, history_depth: int, classified: Reason | None
    ) -> Iterable[Reason]:
        # In order of precedence between reasons of the same tier.
        if self._think_hard.search(lowered):
            yield Reason.THINK_HARD
        if classified is not None:
            yield classified
        else:
            yield from self._content(question, lowered)
        if history_depth >= self.policy.long_conversation_turns:
            yield Reason.LONG_CONVERSATION

    def _content(self, question: str, lowered: str) -> Iterable[Reason]:
        if _has_shape(question, _MATHS_SHAPES) or self._maths.search(lowered):
            yield Reason.MATHS
        if _has_shape(question, _CODE_SHAPES) or self._code.search(lowered):
            yield Reason.CODE
        if len(question) >= self.policy.long_question_chars:
            yield Reason.LONG_QUESTION

    @staticmethod
    def _strongest(reasons: Iterable[Reason]) -> Reason | None:
        best: Reason | None = None
        for reason in reasons:
            if best is None or TIERS[reason] > TIERS[best]:
                best = reason
        return best

    def _candidate(self, tier: Tier) -> str:
        n = len(self.candidates)
        # Two candidates: light gets the first, everything else the second. Three or
        # more: standard questions get one from the middle of the price range.
        index = {Tier.LIGHT: 0, Tier.STANDARD: n // 2, Tier.HEAVY: n - 1}[tier]
        return self.candidates[index]


# ---- an optional classifier model (`router_model`) ------------------------------------

CLASSIFIER_PROMPT = """\
Classify the question below so the right model can answer it. Reply with one word only:
light - a short, everyday or factual question
code - programming, software or a stack trace
maths - mathematics: equations, proofs, calculation
hard - anything else that needs long, careful reasoning

Question:
"""
CLASSIFIER_QUESTION_CHARS = 2_000  # enough to judge; keeps the classifier call tiny
_LABELS = {
    "light": Reason.EVERYDAY,
    "code": Reason.CODE,
    "maths": Reason.MATHS,
    "math": Reason.MATHS,
    "hard": Reason.HARD,
}


def classifier_prompt(question: str) -> str:
    return CLASSIFIER_PROMPT + question[:CLASSIFIER_QUESTION_CHARS]


def read_label(reply: str) -> Reason | None:
    """The classifier's one-word answer, or None when it said something else."""
    match = re.match(r"\W*([a-z]+)", reply.strip().lower())
    return _LABELS.get(match.group(1)) if match else None
