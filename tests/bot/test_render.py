from __future__ import annotations

import pytest

from bot.render import ZWSP, chunk, neutralise_mentions, render_chunks


@pytest.mark.parametrize(
    "text",
    [
        "@everyone look",
        "hey @here",
        "@channel!",
        "<!channel>",
        "<!here|here>",
        "<!everyone>",
        "<!subteam^S0123|@devs>",
        "<@U0123>",
        "<@!42>",
        "<@&77>",
    ],
)
def test_mentions_from_model_output_never_ping(text: str) -> None:
    out = neutralise_mentions(text)
    assert "<!" not in out and "<@" not in out
    for word in ("everyone", "here", "channel"):
        assert f"@{word}" not in out.lower()
    assert ZWSP in out


def test_email_addresses_are_left_alone() -> None:
    assert neutralise_mentions("mail ops@here.example") == "mail ops@here.example"


def test_short_text_is_one_piece() -> None:
    assert chunk("hello", 100) == ["hello"]
    assert chunk("", 100) == []


def test_long_prose_splits_between_words_under_the_limit() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    pieces = chunk(text, 500)
    assert all(len(p) <= 500 for p in pieces)
    assert "".join(pieces) == text


def test_code_fence_is_closed_and_reopened_across_pieces() -> None:
    code = "\n".join(f"line_{i} = {i}" for i in range(400))
    text = f"Here:\n```python\n{code}\n```\nDone."
    pieces = chunk(text, 800)
    assert len(pieces) > 2
    for p in pieces:
        assert len(p) <= 800
        assert p.count("```") % 2 == 0, p
    assert all(p.startswith("```python") for p in pieces[1:-1])
    joined = "\n".join(pieces)
    for i in range(400):
        assert f"line_{i} = {i}" in joined


class _Upper:
    max_chars = 100

    def to_platform(self, markdown: str) -> str:
        return markdown.upper()


def test_render_neutralises_converts_and_splits() -> None:
    pieces = render_chunks("@here " + "abc " * 100, _Upper())
    assert all(len(p) <= 100 for p in pieces)
    assert pieces[0].startswith(f"@{ZWSP}HERE")
