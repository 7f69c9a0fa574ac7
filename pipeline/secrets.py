"""Secrets (API keys, PDF passwords) come from the environment and never leave the process in clear.

Contract: `api_key()` reads a key from the environment only (there is deliberately no flag or config
field for it: command lines are visible to every user of the machine and end up in shell histories).
`redact(text)` replaces every secret value known to this process — the variables in `SECRET_VARS` that are
set, plus values passed to `remember` — with `***`; the CLI's log handler applies it to every line. In
data, secrets are `pydantic.SecretStr` (`RunConfig.password`), which serialise as `**********`.
"""

from __future__ import annotations

import os

from pydantic import SecretStr

API_KEY_VARS = ("DOCPIPE_API_KEY", "OPENAI_API_KEY")  # the first one set wins
SECRET_VARS = (*API_KEY_VARS, "DOCPIPE_PASSWORD")
MIN_SECRET_CHARS = 4  # shorter values would redact ordinary text
_remembered: set[str] = set()


def api_key(names: tuple[str, ...] = API_KEY_VARS) -> SecretStr | None:
    """The API key from the first of `names` set in the environment; None when none is."""
    for name in names:
        if value := os.environ.get(name, "").strip():
            return SecretStr(value)
    return None


def remember(secret: SecretStr | str | None) -> None:
    """Also redact this value (e.g. a password given as a flag)."""
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if value and len(value) >= MIN_SECRET_CHARS:
        _remembered.add(value)


def redact(text: str) -> str:
    """`text` with every known secret value replaced by `***`."""
    values = {os.environ.get(name, "") for name in SECRET_VARS} | _remembered
    for value in sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
