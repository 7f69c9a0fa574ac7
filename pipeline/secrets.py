"""Secrets (API keys, PDF passwords) come from the environment and never leave the process in clear.

Contract: `api_key()` reads a key from the environment only (there is deliberately no flag or config
field for it: command lines are visible to every user of the machine and end up in shell histories).
`redact(text)` replaces every secret value known to this process — the variables in `SECRET_VARS` that are
set, plus values passed to `remember` — with `***`, also where the value appears escaped as JSON or HTML
would write it. It is applied where text from outside enters data (`Redacted` fields of the model: engine
replies and errors, `DocError` messages), and once more as a last-line check by every writer (result
files, reports, exports, the run store) and by the CLI's log handler. In data, secrets are
`pydantic.SecretStr` (`RunConfig.password`), which serialise as `**********`.
"""

from __future__ import annotations

import html
import json
import os
from typing import Annotated

from pydantic import AfterValidator, SecretStr

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
    """`text` with every known secret value replaced by `***`: as is, and as JSON (either way of writing
    non-ASCII) or HTML escape it, so that a serialised or rendered copy is caught too."""
    values = {os.environ.get(name, "") for name in SECRET_VARS} | _remembered
    for value in sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True):
        for form in _written_forms(value):
            if form in text:
                text = text.replace(form, "***")
    return text


def _written_forms(value: str) -> dict[str, None]:
    forms = (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], html.escape(value))
    return dict.fromkeys(forms)  # in order, no repeats


# A str field of the data model that text from outside (a server, a model, an exception) flows into.
Redacted = Annotated[str, AfterValidator(redact)]
