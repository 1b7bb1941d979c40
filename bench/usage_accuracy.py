"""How far the usage estimate is from real tokenizers, on a mixed sample.

Run: pip install bpe-openai && python bench/usage_accuracy.py
(bpe-openai ships OpenAI's cl100k/o200k vocabularies in its wheel, so it works
offline; it is a measurement tool only, not a dependency of the service.)
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cursor_api.usage import estimate_tokens  # noqa: E402


def samples() -> dict[str, str]:
    fixtures = ROOT.parent / "shared" / "fixtures"
    out = {
        "english prose": (
            "The quick brown fox jumps over the lazy dog. Proxies exist to add nothing: "
            "every millisecond and every CPU cycle they spend per streamed frame is a cost "
            "their users pay on a small VPS. We want to be clearly better on every one of "
            "these, in Python, without giving up correctness."
        ),
        "python code": (ROOT / "cursor_api" / "reasoning.py").read_text(),
        "readme (markdown)": (ROOT / "README.md").read_text()[:4000],
        "json": (ROOT / "cursor_api" / "models.py").read_text()[:3000],
    }
    for path in sorted(fixtures.glob("*.text.txt")):
        out[f"chinese ({path.name})"] = path.read_text(encoding="utf-8")
    out["mixed zh/en"] = "请用 Python 写一个 HTTP 服务器，支持 streaming 和 JSON 输出。Thanks!"
    return out


def main() -> None:
    # Imported by name: a measurement-only tool, absent from CI and the extras.
    bpe_openai = importlib.import_module("bpe_openai")

    encodings = {name: bpe_openai.get_encoding(name) for name in ("cl100k_base", "o200k_base")}
    print("| sample | chars | estimate | cl100k | o200k | error vs cl100k | error vs o200k |")
    print("|---|---|---|---|---|---|---|")
    errors: dict[str, list[float]] = {name: [] for name in encodings}
    for label, text in samples().items():
        estimate = estimate_tokens(text)
        real = {name: len(enc.encode(text)) for name, enc in encodings.items()}
        cells = []
        for name, count in real.items():
            error = (estimate - count) / count * 100
            errors[name].append(abs(error))
            cells.append(f"{error:+.0f}%")
        print(
            f"| {label} | {len(text)} | {estimate} | {real['cl100k_base']} | "
            f"{real['o200k_base']} | {' | '.join(cells)} |"
        )
    for name, values in errors.items():
        print(f"mean absolute error vs {name}: {sum(values) / len(values):.1f}%")


if __name__ == "__main__":
    main()
