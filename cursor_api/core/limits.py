"""Stop strings and the completion-token budget, applied to an answer as it streams.

Pure: strings in, strings out. The serve loop feeds each read's text through
`Limits` and stops reading (closing the upstream) once `finish` is set.
"""

from __future__ import annotations

from typing import Literal

from ..usage import TokenMeter

Finish = Literal["stop", "length"]


class StopScanner:
    """Cuts content at the first stop string, even one split across pieces.

    Holds back only the longest end of the text that could still grow into a stop
    string (at most the longest stop string minus one character), so everything
    else goes out at once.
    """

    __slots__ = ("held", "matched", "stops")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.held = ""
        self.matched: str | None = None  # the stop string that ended the answer

    def feed(self, text: str) -> tuple[str, bool]:
        """(the text to send now, whether a stop string was found)."""
        text = self.held + text
        # The model stops where a stop string is first complete: the occurrence that
        # ends first wins (of two ending together, the longer).
        cut = end = -1
        for stop in self.stops:
            at = text.find(stop)
            if at != -1 and (end == -1 or (at + len(stop), at) < (end, cut)):
                cut, end = at, at + len(stop)
                self.matched = stop
        if cut != -1:
            self.held = ""
            return text[:cut], True
        keep = self._partial(text)
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def _partial(self, text: str) -> int:
        """The length of the longest end of `text` that begins some stop string."""
        best = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:size]):
                    best = size
                    break
        return best

    def flush(self) -> str:
        """At the natural end of the answer the held text is answer after all."""
        held, self.held = self.held, ""
        return held


class Limits:
    """Stop strings and max_tokens for one answer.

    Tokens are the dialect's own counts when it reports them (`counted`: call
    `tokens`), else the estimate of `usage.py` over the text sent (content and
    reasoning, as OpenAI's max_completion_tokens counts both). The estimate cuts
    inside a piece, at the last character that fits; a real count can only end the
    answer after the piece it counts.
    """

    __slots__ = ("counted", "finish", "max_tokens", "meters", "scanner", "used")

    def __init__(
        self, stop: tuple[str, ...] = (), max_tokens: int | None = None, *, counted: bool = False
    ) -> None:
        self.scanner = StopScanner(stop) if stop else None
        self.max_tokens = max_tokens
        self.counted = counted
        # Content and reasoning are separate texts: a word must not run across them.
        self.meters = (
            (TokenMeter(), TokenMeter()) if max_tokens is not None and not counted else None
        )
        self.used = 0  # tokens the dialect reported
        self.finish: Finish | None = None

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the answer, if one did."""
        if self.finish != "stop" or self.scanner is None:
            return None
        return self.scanner.matched

    @property
    def active(self) -> bool:
        """Whether there is anything to enforce at all."""
        return self.scanner is not None or self.max_tokens is not None

    def content(self, text: str) -> str:
        """The part of a piece of answer text to send now."""
        if self.finish is not None or not text:
            return ""
        stopped = False
        if self.scanner is not None:
            text, stopped = self.scanner.feed(text)
        text = self._budget(text, 0)
        if stopped and self.finish is None:
            self.finish = "stop"
        return text

    def reasoning(self, text: str) -> str:
        """The part of a piece of reasoning to send now (it counts, it is never cut by stop)."""
        if self.finish is not None:
            return ""
        return self._budget(text, 1)

    def tokens(self, count: int) -> str:
        """A real token delta; past the budget, returns the held text and ends the answer."""
        self.used += count
        if self.finish is not None or self.max_tokens is None or self.used < self.max_tokens:
            return ""
        self.finish = "length"
        return self.scanner.flush() if self.scanner is not None else ""

    def flush(self) -> str:
        """The upstream ended the answer: what was held back goes out."""
        if self.finish is not None or self.scanner is None:
            return ""
        return self._budget(self.scanner.flush(), 0)

    def _budget(self, text: str, channel: int) -> str:
        meters = self.meters
        if meters is None or self.max_tokens is None or not text:
            return text
        meter, other = meters[channel], meters[1 - channel]
        if meter.bound(text) + other.bound() < self.max_tokens:
            # Far from the limit: nothing to count yet (the common case).
            meter.add(text)
            return text
        budget = self.max_tokens - other.total()
        fits = meter.fit(text, budget)
        if fits < len(text):
            text = text[:fits].rstrip()
            self.finish = "length"
        meter.add(text)
        if meter.total() >= budget:
            self.finish = "length"
        return text
