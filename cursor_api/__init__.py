"""cursor-api: OpenAI-compatible chat completions over Cursor accounts."""

__version__ = "0.1.0"
