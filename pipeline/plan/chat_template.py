"""The model's chat template, rendered as Hugging Face's `apply_chat_template(..., tokenize=False)` renders it,
without importing transformers (which a reader process would otherwise load: ~1.6 s and ~150 MB each).

Contract: `ChatTemplate.load(folder)` returns None unless the folder's `tokenizer_config.json` holds one chat
template string. `render(messages, add_generation_prompt, **kwargs)` renders plain role/content messages with what
transformers uses (its `_cached_compile_jinja_template` and `render_jinja_template`): jinja2's immutable sandbox
with `trim_blocks` and `lstrip_blocks` and the loop-controls extension, the `raise_exception`, `tojson` and
`strftime_now` helpers, the special-token strings of the config as variables (`eos_token`, …), `tools` and
`documents` None. `tests/test_chat_template.py` proves the output equal to transformers' on the prompts docpipe
builds, in both thinking modes. Templates with `{% generation %}` blocks are left to transformers.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class ChatTemplate:
    """One compiled chat template and the special-token variables it is rendered with."""

    def __init__(self, source: str, special: dict[str, Any]) -> None:
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._template = env.from_string(source)
        self._special = special

    @classmethod
    def load(cls, folder: Path) -> ChatTemplate | None:
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        source = config.get("chat_template")
        if not isinstance(source, str) or "{% generation" in source or "{%- generation" in source:
            return None
        special: dict[str, Any] = {key: _content(config[key]) for key in SPECIAL_KEYS if config.get(key) is not None}
        if "additional_special_tokens" in config:
            special["additional_special_tokens"] = [_content(t) for t in config["additional_special_tokens"] or []]
        return cls(source, special)

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True, **kwargs: Any) -> str:
        return str(self._template.render(messages=messages, tools=None, documents=None,
                                         add_generation_prompt=add_generation_prompt, **{**self._special, **kwargs}))


def _content(token: Any) -> Any:
    """A special token as transformers' `special_tokens_map` gives it: its string (an AddedToken's content)."""
    return token.get("content") if isinstance(token, dict) else token


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    # transformers' own filter: jinja2's escapes HTML characters
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    import jinja2

    raise jinja2.exceptions.TemplateError(message)
