"""The fake's legacy (StreamChat) and unified (StreamUnifiedChatWithTools) dialects, and
the AvailableModels list they share (docs/protocol.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from .fake_play import FakePlayer
from .fake_scenario import Scenario, fixture_texts
from .fake_state import ChatView, Seen
from .upstream.connect import encode_envelope
from .upstream.proto import aiserver_pb2 as pb

LEGACY_PATH = "/aiserver.v1.AiService/StreamChat"
UNIFIED_PATH = "/aiserver.v1.ChatService/StreamUnifiedChatWithTools"
MODELS_PATH = "/aiserver.v1.AiService/AvailableModels"


class FakeChat(FakePlayer):
    """The legacy and unified chat handlers and the model list."""

    # ---- legacy ---------------------------------------------------------------

    async def _legacy(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self._require_headers(
            request,
            (
                "x-cursor-checksum",
                "x-cursor-client-version",
                "x-cursor-timezone",
                "x-request-id",
                "x-client-key",
                "connect-protocol-version",
            ),
        )
        self._check_checksum(request)
        if request.headers.get("content-type") != "application/connect+proto":
            self.problems.append(f"{request.path}: wrong content-type")
        payload = await self._envelope(request)
        message = None
        if payload is not None:
            try:
                message = pb.GetChatRequest.FromString(payload)
            except Exception as exc:  # any decode failure is a finding, not a crash
                self.problems.append(f"{request.path}: not a GetChatRequest: {exc}")
        view = None
        if message is not None:
            view = _conversation_view(
                message.model_details.model_name,
                message.explicit_context.context,
                message.conversation,
            )
        self.seen.append(Seen(request.path, CIMultiDict(request.headers), token, message, view))
        scenario = self.scenario_for(token)
        texts = list(scenario.texts)
        if scenario.thinking:
            # Legacy reasoning models think inline between tags (docs/protocol.md §2.2).
            texts = ["<think>", *scenario.thinking, "</think>", *texts]
        frames = [_legacy_frame(pb.StreamChatResponse(text=t), scenario.gzip) for t in texts]
        if scenario.citations:
            cited = pb.StreamChatResponse(web_citation=_web_citation(scenario))
            frames.insert(scenario.citations_after, _legacy_frame(cited, scenario.gzip))
        head: list[bytes] = []
        if scenario.prompt is not None:
            head.append(_legacy_frame(pb.StreamChatResponse(filled_prompt=scenario.prompt), True))
            head.append(encode_envelope(b""))
        return await self._play(request, scenario, head, frames)

    # ---- unified --------------------------------------------------------------

    async def _unified(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self._require_headers(
            request,
            (
                "x-cursor-checksum",
                "x-cursor-client-version",
                "x-session-id",
                "x-client-key",
                "x-cursor-config-version",
                "x-cursor-streaming",
                "x-request-id",
                "connect-protocol-version",
            ),
        )
        self._check_checksum(request)
        payload = await self._envelope(request)
        message = None
        if payload is not None:
            try:
                message = pb.StreamUnifiedChatRequestWithTools.FromString(payload)
            except Exception as exc:
                self.problems.append(f"{request.path}: not a unified request: {exc}")
            else:
                self._check_unified(request, message)
        view = None
        if message is not None:
            chat = message.stream_unified_chat_request
            view = _conversation_view(
                chat.model_details.model_name, chat.explicit_context.context, chat.conversation
            )
        self.seen.append(Seen(request.path, CIMultiDict(request.headers), token, message, view))
        scenario = self.scenario_for(token)
        texts = fixture_texts(scenario.raw) if scenario.raw is not None else list(scenario.texts)
        start = pb.StreamUnifiedChatResponseWithTools(stream_start=pb.StreamStart(padding="x"))
        head = [encode_envelope(start.SerializeToString())]
        if scenario.prompt is not None:
            prompt = pb.StreamUnifiedChatResponse(filled_prompt=scenario.prompt)
            head.append(_unified_frame(prompt, True))
        frames = [
            _unified_frame(
                pb.StreamUnifiedChatResponse(thinking=pb.ConversationMessage.Thinking(text=t)),
                scenario.gzip,
            )
            for t in scenario.thinking
        ]
        frames += [
            _unified_frame(pb.StreamUnifiedChatResponse(text=t), scenario.gzip) for t in texts
        ]
        if scenario.citations:
            cited = pb.StreamUnifiedChatResponse(web_citation=_web_citation(scenario))
            frames.insert(
                len(scenario.thinking) + scenario.citations_after,
                _unified_frame(cited, scenario.gzip),
            )
        return await self._play(request, replace(scenario, raw=None), head, frames)

    def _check_unified(
        self, request: web.Request, message: pb.StreamUnifiedChatRequestWithTools
    ) -> None:
        if message.WhichOneof("request") != "stream_unified_chat_request":
            self.problems.append(
                f"{request.path}: wrapper oneof is not stream_unified_chat_request"
            )
            return
        chat = message.stream_unified_chat_request
        bubbles = [m.bubble_id for m in chat.conversation]
        headers = [h.bubble_id for h in chat.full_conversation_headers_only]
        if bubbles != headers:
            self.problems.append(f"{request.path}: conversation headers do not match bubble ids")
        if chat.unified_mode != pb.UNIFIED_MODE_CHAT or chat.unified_mode_name != "Ask":
            self.problems.append(f"{request.path}: not CHAT/Ask mode")

    # ---- models ---------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if request.headers.get("content-type") != "application/proto":
            self.problems.append(f"{request.path}: unary call must be application/proto")
        try:
            message = pb.AvailableModelsRequest.FromString(await request.read())
        except Exception as exc:
            self.problems.append(f"{request.path}: not an AvailableModelsRequest: {exc}")
            message = None
        self.model_calls.append(Seen(request.path, CIMultiDict(request.headers), token, message))
        if self.models_error is not None:
            return web.Response(status=500, body=self.models_error, content_type="application/json")
        answer = pb.AvailableModelsResponse(
            model_names=self.models,
            models=[
                pb.AvailableModel(
                    name=name,
                    default_on=True,
                    supports_thinking="sonnet" in name or "gpt-5" in name,
                    supports_images=not name.startswith("composer"),
                )
                for name in self.models
            ],
        )
        return web.Response(body=answer.SerializeToString(), content_type="application/proto")


def _web_citation(scenario: Scenario) -> pb.WebCitation:
    return pb.WebCitation(
        references=[pb.WebReference(url=url, title=title) for url, title in scenario.citations]
    )


def _legacy_frame(message: pb.StreamChatResponse, compress: bool) -> bytes:
    return encode_envelope(message.SerializeToString(), compress=compress)


def _unified_frame(message: pb.StreamUnifiedChatResponse, compress: bool) -> bytes:
    wrapped = pb.StreamUnifiedChatResponseWithTools(stream_unified_chat_response=message)
    return encode_envelope(wrapped.SerializeToString(), compress=compress)


def _conversation_view(model: str, instructions: str, conversation: Any) -> ChatView:
    roles = {1: "user", 2: "assistant"}
    return ChatView(
        model=model,
        instructions=instructions,
        messages=[(roles.get(m.type, "?"), m.text) for m in conversation],
        images=[
            (i.data, i.dimension.width, i.dimension.height) for m in conversation for i in m.images
        ],
    )
