"""The validator catches what the real APIs refuse, and passes what they take, so the
spec contract cannot pass by checking nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.contract import specs
from tests.contract.validate import check
from tests.fakes.recorded import Recorded, Service

pytestmark = pytest.mark.usefixtures("official_specs")

BEARER = (("Authorization", "Bearer xoxb-test"),)
FORM = "application/x-www-form-urlencoded"


def request(
    service: Service,
    method: str,
    path: str,
    body: Any = None,
    *,
    form: str | None = None,
    query: tuple[tuple[str, str], ...] = (),
    headers: tuple[tuple[str, str], ...] = BEARER,
) -> Recorded:
    if form is not None:
        raw, content_type = form.encode(), FORM
    elif body is not None:
        raw, content_type = json.dumps(body).encode(), "application/json"
    else:
        raw, content_type = b"", ""
    return Recorded(service, method, path, query, content_type, headers, raw)


def problems(*args: Any, **kw: Any) -> list[str]:
    result = check(request(*args, **kw))
    assert result.in_spec
    return [v.problem for v in result.violations]


# ---- Slack ---------------------------------------------------------------------------


def test_slack_form_arguments_a_method_takes_pass() -> None:
    assert problems("slack", "POST", "/api/users.info", form="user=U1&team_id=T1") == []
    assert problems("slack", "POST", "/api/chat.postMessage", {"channel": "C1", "text": "a"}) == []


def test_slack_json_body_to_a_read_method_is_refused() -> None:
    found = problems("slack", "POST", "/api/users.info", {"user": "U1"})
    assert found == [
        "sent as application/json, but it takes only application/x-www-form-urlencoded "
        "(Slack ignores the body)"
    ]


def test_slack_unknown_argument_is_refused() -> None:
    found = problems("slack", "POST", "/api/chat.update", form="channel=C1&ts=1.2&txt=typo")
    assert found == ["unknown argument 'txt'"]


def test_slack_argument_of_the_wrong_type_is_refused() -> None:
    replies = "channel=C1&ts=1700000000.000100&limit=15&inclusive=true"
    assert problems("slack", "POST", "/api/conversations.replies", form=replies) == []
    found = problems("slack", "POST", "/api/conversations.replies", form="ts=1.5&limit=ten")
    assert found == ["argument limit='ten' is not of type integer"]
    mrkdwn = {"channel": "C1", "text": "a", "mrkdwn": "yes"}
    assert problems("slack", "POST", "/api/chat.postMessage", mrkdwn) == [
        "argument mrkdwn='yes' is not of type boolean"
    ]


def test_slack_missing_required_argument_is_refused() -> None:
    found = problems("slack", "POST", "/api/chat.postMessage", {"text": "where to?"})
    assert found == ["required argument 'channel' missing"]


def test_slack_token_is_required_from_the_header_or_the_form() -> None:
    assert problems("slack", "POST", "/api/auth.test", headers=()) == [
        "required argument 'token' missing"
    ]
    assert problems("slack", "POST", "/api/auth.test", form="token=xoxb-1", headers=()) == []
    found = problems("slack", "POST", "/api/chat.postMessage", {"channel": "C1", "token": "x"})
    assert found == ["token in a JSON body (Slack reads it from the header only)"]


def test_slack_methods_missing_from_the_2021_spec_are_counted_apart_not_passed() -> None:
    newer = check(request("slack", "POST", "/api/chat.startStream", {"channel": "C1"}))
    assert (newer.in_spec, newer.violations) == (False, ())
    unknown = check(request("slack", "POST", "/api/chat.postMesage", {"channel": "C1"}))
    assert [v.problem for v in unknown.violations] == ["no such method"]


# ---- Discord -------------------------------------------------------------------------

MESSAGES = "/api/v10/channels/1200000000000000002/messages"


def test_discord_message_within_the_limits_passes() -> None:
    body = {"content": "x" * 2_000, "allowed_mentions": {"parse": []}}
    assert problems("discord", "POST", MESSAGES, body) == []


def test_discord_content_over_2000_characters_is_refused_for_a_bot() -> None:
    (found,) = problems("discord", "POST", MESSAGES, {"content": "x" * 2_001})
    assert found == "content: a string of 2001 characters fails maxLength=2000"
    (edit,) = problems(
        "discord", "PATCH", f"{MESSAGES}/1300000000000000001", {"content": "x" * 2_001}
    )
    assert "maxLength=2000" in edit


def test_discord_content_limit_holds_on_interaction_edits_and_follow_ups() -> None:
    webhook = "/api/v10/webhooks/1100000000000000001/tok-1"
    assert problems("discord", "PATCH", f"{webhook}/messages/@original", {"content": "x" * 2_001})
    assert problems("discord", "POST", webhook, {"content": "x" * 2_001})
    assert problems("discord", "POST", webhook, {"embeds": [{}] * 11})


def test_discord_bad_enum_values_are_refused() -> None:
    callback = "/api/v10/interactions/1300000000000000001/tok-1/callback"
    assert problems("discord", "POST", callback, {"type": 5}, query=(("with_response", "1"),)) == []
    assert problems("discord", "POST", callback, {"type": 99})
    mentions = {"content": "hi", "allowed_mentions": {"parse": ["everyone", "nobody"]}}
    assert problems("discord", "POST", MESSAGES, mentions)
    thread = {"name": "question", "type": 99}
    assert problems("discord", "POST", "/api/v10/channels/1200000000000000002/threads", thread)


def test_discord_snowflakes_may_be_integers_as_discord_py_sends_them() -> None:
    reply = {"content": "a", "message_reference": {"message_id": 1300000000000000001}}
    assert problems("discord", "POST", MESSAGES, reply) == []
    reply["message_reference"] = {"message_id": "13e17"}
    assert problems("discord", "POST", MESSAGES, reply)


def test_discord_thread_name_over_100_characters_is_refused() -> None:
    path = f"{MESSAGES}/1300000000000000001/threads"
    assert problems("discord", "POST", path, {"name": "n" * 100}) == []
    assert problems("discord", "POST", path, {"name": "n" * 101})


def test_discord_unknown_paths_methods_and_parameters_are_refused() -> None:
    assert problems("discord", "POST", "/api/v10/channels/1/mesages", {"content": "a"}) == [
        "no such path"
    ]
    assert problems("discord", "PUT", MESSAGES, {"content": "a"})[0].startswith(
        "method not allowed"
    )
    (bad_id,) = problems("discord", "POST", "/api/v10/channels/general/messages", {"content": "a"})
    assert bad_id.startswith("path parameter channel_id='general'")
    assert problems("discord", "POST", MESSAGES, {"content": "a"}, query=(("wait", "1"),)) == [
        "unknown query parameter 'wait'"
    ]


def test_discord_multipart_body_is_checked_through_its_payload_json() -> None:
    def multipart(content: str) -> Recorded:
        payload = json.dumps({"content": content})
        body = (
            '--b\r\nContent-Disposition: form-data; name="payload_json"\r\n'
            f"Content-Type: application/json\r\n\r\n{payload}\r\n"
            '--b\r\nContent-Disposition: form-data; name="files[0]"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\nan attachment\r\n--b--\r\n"
        )
        headers = (("Content-Type", "multipart/form-data; boundary=b"),)
        return Recorded(
            "discord", "POST", MESSAGES, (), "multipart/form-data", headers, body.encode()
        )

    assert check(multipart("x" * 2_000)).violations == ()
    (too_long,) = check(multipart("x" * 2_001)).violations
    assert too_long.problem == "content: a string of 2001 characters fails maxLength=2000"


# ---- OpenAI --------------------------------------------------------------------------

CHAT = "/v1/chat/completions"
MESSAGE = [{"role": "user", "content": "Why is the sky blue?"}]


def test_openai_chat_request_the_bot_sends_passes() -> None:
    body = {
        "model": "o3-mini",
        "messages": [{"role": "developer", "content": "Be brief."}, *MESSAGE],
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "high",
        "max_completion_tokens": None,  # `nullable: true` in the spec: null is allowed
    }
    assert problems("openai", "POST", CHAT, body) == []


def test_openai_wrong_types_and_values_are_refused() -> None:
    (temperature,) = problems(
        "openai", "POST", CHAT, {"model": "o1", "messages": MESSAGE, "temperature": "hot"}
    )
    assert temperature.startswith("temperature:")
    assert problems("openai", "POST", CHAT, {"model": "o1", "messages": "hi"})
    assert problems(
        "openai", "POST", CHAT, {"model": "o1", "messages": [{"role": "robot", "content": "x"}]}
    )
    assert problems(
        "openai", "POST", CHAT, {"model": "o1", "messages": MESSAGE, "reasoning_effort": "maximal"}
    )
    assert problems("openai", "POST", CHAT, {"model": "o1"})  # messages are required


def test_openai_unrecognized_argument_is_refused() -> None:
    found = problems("openai", "POST", CHAT, {"model": "o1", "messages": MESSAGE, "effort": "high"})
    assert found == ["unrecognized request argument 'effort'"]


def test_openai_paths_outside_the_spec_are_refused() -> None:
    assert problems("openai", "POST", "/v1/chat/completion", {"model": "o1"}) == [
        "no such operation"
    ]
    assert problems("openai", "GET", "/v1/models") == []


def test_nullable_becomes_a_null_type_in_2020_12() -> None:
    rewritten = specs._nullable_to_2020_12(
        {
            "a": {"type": "string", "enum": ["x"], "nullable": True},
            "b": {"$ref": "#/components/schemas/X", "nullable": True},
            "c": {"type": "integer", "nullable": False},
        }
    )
    assert rewritten == {
        "a": {"type": ["string", "null"], "enum": ["x", None]},
        "b": {"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]},
        "c": {"type": "integer"},
    }
