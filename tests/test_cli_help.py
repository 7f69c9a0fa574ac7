"""The CLI explains itself: every option described, placeholders in words, examples, --version, install hints
that name real packages; `eval cuad` takes the server options (run against a real local HTTP server)."""

from __future__ import annotations

import json
import re
import tomllib

import click
import pytest
import typer
from typer.testing import CliRunner

from pipeline import __version__
from pipeline.cli import app
from pipeline.install import DISTRIBUTION, EXTRAS, install_hint
from tests.conftest import REPO, filler, write_pdf
from tests.fake_server import MODEL, FakeServer

COMMANDS = [["run"], ["plan"], ["status"], ["report"], ["eval", "cuad"]]


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def _command(args: list[str]) -> click.Command:
    command = typer.main.get_command(app)
    for name in args:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_option_is_described_with_a_placeholder_in_words_and_examples_given(args):
    text = _help(args)
    assert not re.findall(r"<[a-z][\w\[\], ]*>", text)  # no <bool>, <list[Path]>, <int range>
    assert "{" not in text.split("\n", 1)[0]  # the usage line names arguments plainly
    assert re.search(r"Examples?:\n +docpipe ", text)
    for param in _command(args).params:
        if isinstance(param, click.Option) and param.name != "help":
            assert (param.help or "").strip(), f"{args}: {param.opts} has no description"
            if not param.is_flag:
                assert param.metavar and param.metavar.isupper(), f"{args}: {param.opts} placeholder {param.metavar!r}"


def test_help_keeps_bracketed_extras_and_names_real_packages():
    run_help, top = _help(["run"]), _help([])
    assert "'.[pdfium]'" in run_help and "pypdfium2>=4.30" in run_help  # rich markup used to swallow [pdfium]
    assert "docpipe[" not in run_help + top  # PyPI's "docpipe" is someone else's project
    assert DISTRIBUTION in top and "pip install -e ." in top
    for word in ("--verbose", "--enforce-eager", "--base-url"):
        assert word in run_help


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"docpipe {__version__} ({DISTRIBUTION})"


def test_install_hints_match_the_distribution_and_its_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["name"] == DISTRIBUTION
    extras = {k: tuple(v) for k, v in project["optional-dependencies"].items() if k != "test"}
    assert extras == EXTRAS
    assert install_hint("pdfium").startswith("pip install 'pypdfium2>=4.30'")


def test_eval_cuad_takes_the_server_options(tmp_path):
    data = tmp_path / "cuad"
    text = "This Agreement shall be governed by the laws of the State of Delaware. " + filler(40)
    write_pdf(data / "pdf" / "Deal.pdf", [text])
    (data / "master_clauses.csv").write_text(
        "Filename,Governing Law,Governing Law-Answer\n"
        '"Deal.pdf","[\'This Agreement shall be governed by the laws of the State of Delaware.\']",Delaware\n',
        "utf-8")
    with FakeServer() as server:
        result = CliRunner().invoke(app, [
            "eval", "cuad", str(data), "-o", str(tmp_path / "out"), "--base-url", server.url, "--model", MODEL,
            "--server-kind", "openai", "--concurrency", "2", "--request-timeout", "30", "--max-retries", "1",
            "--jobs", "1"])
        assert result.exit_code == 0, result.output
        assert [r["path"] for r in server.requests if r["path"].endswith("/chat/completions")]
    report = json.loads((tmp_path / "out" / "eval.json").read_text("utf-8"))
    assert report["engine"]["name"] == "server" and report["documents"]["total"] == 1
