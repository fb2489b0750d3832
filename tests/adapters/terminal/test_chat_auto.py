"""`--model auto` in `reasonbot chat`: typed as text, answered by the chosen model, and
the footer says which and why."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.terminal.test_chat_e2e import base_env, run_cli, table_row
from tests.fakes.openai_server import FakeOpenAI


async def test_chat_with_auto_names_the_chosen_model_and_why(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = base_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-chat-secret")
        script = (
            "/reason --model auto What is the capital of Peru?\n"
            "/reason --model auto Prove that there are infinitely many primes.\n"
            "/quota\n"
        )
        code, out, err = await run_cli(["chat", "--team", "acme", "--user", "ann"], script, env)
        models = [r.body["model"] for r in fake.requests]
    assert code == 0, err
    assert "auto → mini: short factual question" in out
    assert "auto → o1: maths" in out
    assert models == ["o1-mini", "o1"]
    assert table_row(out, "o1", "29", "30") and table_row(out, "mini", "49", "50")
