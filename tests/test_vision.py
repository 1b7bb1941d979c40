"""Images through the whole service: they reach the upstream with their dimensions."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream

from .conftest import Service, auth
from .test_image_formats import data_url, make_gif, make_png


def image_request(url: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }


@pytest.mark.parametrize("dialect", ["legacy", "unified"])
async def test_image_bytes_and_dimensions_reach_upstream(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    png = make_png(37, 21)
    resp = await service.post(
        "/v1/chat/completions", json=image_request(data_url(png)), headers=auth()
    )
    assert resp.status == 200, await resp.text()
    (seen,) = fake.seen
    assert seen.chat is not None
    assert seen.chat.images == [(png, 37, 21)]
    assert seen.chat.messages == [("user", "What is this?")]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_agent_image_goes_in_selected_context(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    gif = make_gif(5, 6)
    url = data_url(gif, "image/gif")
    resp = await service.post("/v1/chat/completions", json=image_request(url), headers=auth())
    assert resp.status == 200, await resp.text()
    (seen,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    image = seen.message.action.user_message_action.user_message.selected_context.selected_images[0]
    assert (image.data, image.mime_type) == (gif, "image/gif")


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_vision_none_drops_images(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(vision_ability="none")
    url = data_url(make_png(2, 2))
    resp = await service.post("/v1/chat/completions", json=image_request(url), headers=auth())
    assert resp.status == 200
    assert fake.seen[0].chat is not None and fake.seen[0].chat.images == []


@pytest.mark.parametrize("dialect", ["legacy"])
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.invalid/cat.png", "VISION_ABILITY"),
        (data_url(make_gif(3, 3, frames=2), "image/gif"), "animated"),
        ("data:image/png;base64,!!!notbase64", "base64"),
    ],
)
async def test_bad_images_are_400(
    fake: FakeUpstream, service: TestClient[Any, Any], url: str, words: str
) -> None:
    resp = await service.post("/v1/chat/completions", json=image_request(url), headers=auth())
    assert resp.status == 400
    assert words in (await resp.json())["error"]["message"]
    assert fake.seen == []


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_images_per_request_are_capped(fake: FakeUpstream, make_service: Service) -> None:
    """Issue 16 item 4: a request had no limit on its images; IMAGES_MAX_COUNT is one."""
    service = await make_service(images_max_count=3)
    url = data_url(make_png(2, 2))
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}}]
    body = image_request(url)
    body["messages"][0]["content"] = parts * 3
    resp = await service.post("/v1/chat/completions", json=body, headers=auth())
    assert resp.status == 200, await resp.text()
    assert fake.seen[0].chat is not None and len(fake.seen[0].chat.images) == 3
    body["messages"][0]["content"] = parts * 4
    resp = await service.post("/v1/chat/completions", json=body, headers=auth())
    assert resp.status == 400, await resp.text()
    assert "IMAGES_MAX_COUNT" in (await resp.json())["error"]["message"]
    assert len(fake.seen) == 1
