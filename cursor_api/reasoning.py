"""Split inline `<think>…</think>` reasoning out of answer text (docs/protocol.md §2.2).

The tags may be cut anywhere across frames, so a possible partial tag at the end
of a piece is held back until the next piece decides it; nothing else is held.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkSplitter:
    """Feed answer pieces; get (reasoning, content) pieces back."""

    __slots__ = ("_held", "_inside")

    def __init__(self) -> None:
        self._inside = False
        self._held = ""

    def feed(self, piece: str) -> tuple[str, str]:
        if not self._held and "<" not in piece:
            # The hot path: no tag can start in this piece.
            return (piece, "") if self._inside else ("", piece)
        text = self._held + piece
        self._held = ""
        reasoning: list[str] = []
        content: list[str] = []
        while text:
            tag = CLOSE if self._inside else OPEN
            at = text.find(tag)
            out = reasoning if self._inside else content
            if at >= 0:
                out.append(text[:at])
                text = text[at + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_suffix(text, tag)
            if keep:
                self._held = text[-keep:]
                text = text[:-keep]
            out.append(text)
            break
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        """At the end of the stream a held partial tag was just text."""
        held, self._held = self._held, ""
        return (held, "") if self._inside else ("", held)
