import logging

from pipeline.config import RunConfig
from pipeline.sanitize import SafeFormatter
from pipeline.secrets import api_key, redact, remember


def test_api_key_comes_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("DOCPIPE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert api_key() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-1234")
    monkeypatch.setenv("DOCPIPE_API_KEY", "sk-docpipe-5678")
    key = api_key()
    assert key is not None and key.get_secret_value() == "sk-docpipe-5678"
    assert "5678" not in repr(key) and "5678" not in str(key)
    assert "api_key" not in RunConfig.model_fields  # no flag or config field can carry one


def test_secrets_are_redacted_from_text_and_log_lines(monkeypatch):
    monkeypatch.setenv("DOCPIPE_API_KEY", "sk-live-abcdef")
    remember("flag-password-42")
    assert redact("Authorization: Bearer sk-live-abcdef; pw flag-password-42") == "Authorization: Bearer ***; pw ***"
    try:
        raise RuntimeError("server said: bad key sk-live-abcdef")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "call failed (%s)", ("sk-live-abcdef",), sys.exc_info())
    line = SafeFormatter("%(message)s").format(record)
    assert "sk-live-abcdef" not in line and "***" in line and "Traceback" in line


def test_password_never_serialises_in_clear():
    config = RunConfig(password="hunter22")
    assert "hunter22" not in config.model_dump_json() and "hunter22" not in repr(config)
    assert config.password is not None and config.password.get_secret_value() == "hunter22"


def test_secrets_are_redacted_as_json_and_html_write_them(monkeypatch):
    import json

    from pipeline.models import Completion, DocError

    secret = 'pa"ss\\wörd<&>'
    monkeypatch.setenv("DOCPIPE_PASSWORD", secret)
    for written in (json.dumps({"m": secret}), json.dumps({"m": secret}, ensure_ascii=False), f"<p>{html_escape(secret)}</p>"):
        assert redact(written).count("***") == 1, written
    # Text from outside is redacted where it enters the data model.
    assert DocError(stage="engine", kind="x", message=f"echo {secret}").message == "echo ***"
    completion = Completion(request_id="r", text=f"t {secret}", error=f"e {secret}", reasoning=f"r {secret}")
    assert (completion.text, completion.error, completion.reasoning) == ("t ***", "e ***", "r ***")


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
