"""Image loading (interim: data URLs only, dimensions unknown)."""

from __future__ import annotations

import base64
import binascii

import aiohttp

from .config import VisionAbility
from .errors import ApiError
from .upstream.types import Image


class ImageLoader:
    def __init__(self, session: aiohttp.ClientSession, ability: VisionAbility) -> None:
        self.session = session
        self.ability = ability

    async def load(self, url: str) -> Image | None:
        if self.ability == "none":
            return None
        if not url.startswith("data:image/") or ";base64," not in url:
            raise ApiError(400, "only base64 data: image URLs are accepted", param="image_url")
        head, _, data = url.partition(";base64,")
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise ApiError(400, "the image is not valid base64", param="image_url") from None
        return Image(raw, head.removeprefix("data:"), 0, 0)
