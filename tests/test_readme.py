"""Every command of the README, run as written from the project root, with the real model.

The commands are read from README.md when the tests run, never copied here: each line of a
```` ```bash ```` block (a line ending in a backslash goes on), each ```` ```python ````
block, and each ``$ `` line of a plain block, whose following lines are the output the
README shows (it must appear, in order and whitespace aside, ``...`` standing for elided
text). Edit the README and these tests run the new text. Every command must exit 0 without
a traceback, and what it promises is checked: ``rag index`` reports the documents,
``rag ask`` cites sources (``--json`` parses), a piped ``rag chat`` answers every question
and shows its rewritten follow-up, ``rag check`` prints its summary, ``rag docs`` lists each
file of corpus/, a redirection writes its file, a server command (``scripts/run.sh``,
``rag serve --port 8000``) starts in its own process group, must answer HTTP on loopback,
and is then stopped (the README's gradio_client blocks run against the one serving the
address they name; another gets its ``/documents`` endpoint asked), and a command talking to
an OpenAI-compatible server at ``http://127.0.0.1:PORT/v1`` gets a scripted one on that port
(tests/fake_openai_server.py) whose sentence must come back with its citation. A ``print``
line of a python block with a comment promises that output: the comment's words must be
printed. ``draft.txt`` is made by the README itself; the tests restore whatever was there.

Not run as written, and why (each still checked):

- ``scripts/test.sh`` is the CI command itself and runs these tests: ``.ci/run`` must
  ``exec`` it.
- The eval suite takes minutes and ``scripts/test.sh`` runs it once, with exactly the
  README's ``rag eval`` line (``.venv/bin/rag eval --out report.json``): the README's
  ``rag eval`` lines must be lines of scripts/test.sh. Its other command lines
  (``python -m evals ...``) are the same runner and options: they must parse (``--help``
  appended).
- ``python -m rag.train calibrate-support`` (~1.2 min) and ``calibrate-ranker`` (~2.5 min) run
  as written and must reproduce the committed decision; the shipped files are put back.
- ``PARSE_ONLY`` below: model training (rewrites the shipped models, ~37 min to ~1 h),
  benchmarks over 1,000 news articles or a million chunks (3 min to an hour; the
  demo-corpus, load, fuzz and Ray-throughput benchmarks run as written: ~5 s, ~1.5 min,
  ~1.5 min and ~1.5 min),
  and ``scripts/llm_eval.sh`` (compiles llama.cpp, ~8 min):
  ``--help`` appended must exit 0 (so the module exists and the options as written parse);
  a shell script must be executable and pass ``bash -n``.
  An entry that matches no README command fails, so the list cannot go stale.

The Ray cluster block runs on this one machine as a cluster of two nodes: each line as
written, in order, ``HEAD`` being the address ``ray start --head`` printed; ``rag index`` must
join it (and, without ``RAY_AUTH_MODE=token``, fail in one line saying how to send the
token); the README's ``ray stop`` runs whatever happens, and stops every Ray process of
this user on the machine (so do not run it beside a Ray instance of your own).

The long tier runs the ``PARSE_ONLY`` commands as written too: ``.ci/run-long``
(``RAG_README_LONG=1``, hours on 2 cores) runs each in README order.
Each must exit 0 without a traceback and deliver what it says: a benchmark writes
its JSON report and prints its table; ``scripts/llm_eval.sh`` writes a complete
``artifacts/llm-check.json`` whose every question was answered; a training run into
``rag/models/`` must reproduce the shipped model's data counts and held-out figures (it is
seeded), and the committed model files are put back whatever happens; a run into a folder of
its own (``--model build/...``) must leave a loadable model there. Output goes to
``artifacts/long/`` as it runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

from rag.files import write_atomic

README = ROOT / "README.md"

CLUSTER = r"\bray (start|stop|get-auth-token)\b|--ray HEAD:"  # the Ray cluster block's lines
# Commands checked without being run, by what they run (pattern) and why.
PARSE_ONLY = {
    r"-m rag\.train (support|ranker)\b": "trains a shipped model (~37 min to ~1 h); "
                                         "rewrites rag/models/",
    r"-m bench\.run\b": "benchmark over 1,000 or 10,000 news articles (~3 min to ~1 h)",
    r"scripts/llm_eval\.sh\b": "compiles llama.cpp and runs a local LLM (~8 min)",
    r"-m bench\.(langchain_compare|million)\b": "benchmarks over 1,000 articles or a million "
                                                "chunks (~5 and ~25 min)",
}
LONG = os.environ.get("RAG_README_LONG") == "1"  # the long tier (.ci/run-long)
LONG_TIMEOUT = 4 * 3600.0  # seconds for one long command (bench.run --tier 10k ~1 h)
LONG_LOGS = ROOT / "artifacts" / "long"
EVAL = r"(\brag eval\b|-m evals(\s|$))"  # the eval suite itself
SERVER = r"(scripts/run\.sh|\brag serve\b|\bapp\.py\b)"
DEFAULT_PORT = 7860  # gradio's, and the README's


@dataclass
class Command:
    text: str  # as written (continuation lines included)
    line: int  # 1-based line in README.md
    shown: str = ""  # the output the README shows after a `$ ` line


@dataclass
class Block:
    kind: str  # "bash", "python" or "example" (a plain block with `$ ` lines)
    line: int
    commands: list[Command] = field(default_factory=list)
    code: str = ""  # a python block's source


def readme_blocks(text: str | None = None) -> list[Block]:
    """The README's runnable blocks, in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        lang, start = fence.group(1), i + 1
        j = start
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        body = lines[start:j]
        if lang == "bash":
            blocks.append(Block("bash", start + 1, _bash_lines(body, start)))
        elif lang == "python":
            blocks.append(Block("python", start + 1, code="\n".join(body) + "\n"))
        elif lang == "" and any(b.startswith("$ ") for b in body):
            blocks.append(Block("example", start + 1, _examples(body, start)))
        i = j + 1
    return blocks


def _bash_lines(body: list[str], offset: int) -> list[Command]:
    out: list[Command] = []
    k = 0
    while k < len(body):
        first, text = k, body[k]
        while text.endswith("\\") and k + 1 < len(body):
            k += 1
            text += "\n" + body[k]
        k += 1
        if text.strip() and not text.lstrip().startswith("#"):
            out.append(Command(text, offset + first + 1))
    return out


def _examples(body: list[str], offset: int) -> list[Command]:
    out: list[Command] = []
    k = 0
    while k < len(body):
        if not body[k].startswith("$ "):
            k += 1
            continue
        first, text = k, body[k][2:]
        while text.endswith("\\") and k + 1 < len(body):
            k += 1
            text += "\n" + body[k]
        k += 1
        shown = []
        while k < len(body) and not body[k].startswith("$ "):
            shown.append(body[k])
            k += 1
        out.append(Command(text, offset + first + 1, "\n".join(shown).strip()))
    return out


def all_commands(blocks: list[Block]) -> list[Command]:
    return [c for b in blocks for c in b.commands]


def _words(command: str) -> list[str]:
    """The command's words without its comment."""
    return shlex.split(command.replace("\\\n", " "), comments=True)


def _bare(command: str) -> str:
    return shlex.join(_words(command))


def _parse_only(command: str) -> str | None:
    return next((why for pat, why in PARSE_ONLY.items() if re.search(pat, command)), None)


def _port(command: str) -> int:
    m = re.search(r"--port[ =](\d+)", command)
    return int(m.group(1)) if m else DEFAULT_PORT


def _loopback_port(code: str) -> int | None:
    m = re.search(r"http://127\.0\.0\.1:(\d+)", code)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------
# Fast checks: the README parses into commands, and each kind has its check
# ---------------------------------------------------------------------------------------
def test_readme_commands_are_found_and_each_has_a_check() -> None:
    blocks = readme_blocks()
    kinds = {b.kind for b in blocks}
    assert kinds == {"bash", "python", "example"}, kinds
    commands = [c.text for c in all_commands(blocks)]
    assert any("rag ask" in c for c in commands) and any("scripts/run.sh" in c for c in commands)
    for pattern in PARSE_ONLY:  # no stale entry
        assert any(re.search(pattern, c) for c in commands), f"{pattern} matches no command"
    served = {_port(c) for c in commands if re.search(SERVER, c)}
    for b in blocks:
        port = _loopback_port(b.code) if b.kind == "python" else None
        if port is not None and "gradio_client" in b.code:
            assert port in served, f"README:{b.line} talks to port {port}; nothing serves it"
    examples = [c for b in blocks if b.kind == "example" for c in b.commands]
    assert any(c.shown for c in examples), "no `$ ` example shows its output"


def test_parser_reads_continuations_comments_and_examples() -> None:
    text = (
        "intro\n```bash\nrun-a   # a comment\nprintf x \\\n  | cat\n\n# only a comment\n```\n"
        "```\n$ echo hi > f.txt\n$ cat f.txt\nhi\n...\n```\n```\nnot a command\n```\n"
        "```python\nprint(1)\n```\n"
    )
    bash, example, python = readme_blocks(text)
    assert [c.text for c in bash.commands] == ["run-a   # a comment", "printf x \\\n  | cat"]
    assert [c.line for c in bash.commands] == [3, 4]
    assert [(c.text, c.shown) for c in example.commands] == [
        ("echo hi > f.txt", ""), ("cat f.txt", "hi\n...")]
    assert python.code == "print(1)\n"
    assert _bare("run-a   # a comment") == "run-a"


def test_ci_runs_the_readme_test_command() -> None:
    """`scripts/test.sh` is not run here (it runs these tests): CI must run exactly it."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\.sh\b", ci, re.M), ci
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert re.search(r"pytest .*\btests\b", test_sh)


def test_shows_matches_in_order_and_fails_otherwise() -> None:
    shown = "The answer [1] It\nwould ...\n\nSources:\n[1] A — a.md:1-2\n..."
    real = "The answer [1] It would be so.\n\nSources:\n[1] A — a.md:1-2\n    “q”\n[2] B"
    _assert_shows(shown, real)
    with pytest.raises(AssertionError):
        _assert_shows(shown, real.replace("a.md:1-2", "a.md:1-3"))
    with pytest.raises(AssertionError):
        _assert_shows("Sources:\n...\nThe answer", real)


def test_a_print_comment_is_a_promise() -> None:
    _run_python('print("How did Moscow respond to that (US)?")  # How did Moscow respond', "ok")
    with pytest.raises(AssertionError, match=r"printed no \['Shayrat'\]"):
        _run_python('print("How did Moscow respond?")  # How did Moscow respond (Shayrat)?', "x")


# ---------------------------------------------------------------------------------------
# Running the commands
# ---------------------------------------------------------------------------------------
_RAY_AT_START = {k for k in os.environ if k.startswith("RAY_")}


def _env() -> dict[str, str]:
    """The environment of a user's shell: none of the test run's RAG_* or server settings,
    nor the RAY_* a ``ray.init`` in this process set (it sets ``RAY_AUTH_MODE=token``)."""
    skip = ("RAG_", "GRADIO_SERVER_", "OPENAI_", "OLLAMA_")
    return {k: v for k, v in os.environ.items() if not k.startswith(skip) and k != "PYTHONPATH"
            and not (k.startswith("RAY_") and k not in _RAY_AT_START)}


# A command shown twice runs once, unless a file it names changed in between.
_results: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}


def _run(command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    files = [ROOT / w for w in _words(command) if w and (ROOT / w).is_file()]
    key = (command, *(f"{f}:{f.read_bytes()!r}" for f in files))
    if key not in _results:
        _results[key] = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=_env(), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout,
        )
    return _results[key]


def _ok(out: subprocess.CompletedProcess[str], what: str, *status: int) -> None:
    assert "Traceback" not in out.stderr, f"{what}\n{out.stderr[-3000:]}"
    assert out.returncode in (status or (0,)), (
        f"{what}: exit {out.returncode}\n{out.stderr[-3000:]}")


def _normal(text: str) -> str:
    return " ".join(text.split())


def _assert_shows(shown: str, real: str) -> None:
    """Each part of ``shown`` between ``...`` elisions appears in ``real``, in order."""
    parts = [p for p in re.split(r"(?:^|\s)\.\.\.(?=\s|$)", shown) if _normal(p)]
    text, at = _normal(real), 0
    for part in parts:
        found = text.find(_normal(part), at)
        assert found >= 0, f"the README shows\n{part.strip()}\nbut the command printed\n{real}"
        at = found + len(_normal(part))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def _serving(command: str, port: int) -> Iterator[str]:
    """Start ``command`` in its own process group; yield its URL once it answers HTTP."""
    if not _port_free(port):
        pytest.fail(f"port {port} is taken by another program; the README's `{command}` "
                    "needs it: stop that program and run again")
    url = f"http://127.0.0.1:{port}"
    ok, logged = False, ""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=_env(), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 420  # scripts/run.sh installs first (pip)
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"`{command}` ended (exit {proc.returncode}) before serving:\n"
                                f"{log.read()[-3000:]}")
                try:
                    with urllib.request.urlopen(url + "/", timeout=5) as resp:
                        assert resp.status == 200
                        assert "gradio" in resp.read().decode("utf-8", "replace").lower()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"`{command}` did not answer on {url} within 7 minutes")
                    time.sleep(1)
            yield url
            ok = True
        finally:
            for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            log.seek(0)
            logged = log.read()
    if ok:
        assert "Traceback" not in logged, f"`{command}` logged a traceback:\n{logged[-3000:]}"


def _run_python(code: str, what: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    _ok(out, what)
    for line in code.splitlines():  # `print(x)  # what it prints`: those words are printed
        m = re.match(r"\s*print\(.*\)\s+#\s*(.+)$", line)
        if m:
            printed = set(re.findall(r"\w+", out.stdout))
            missing = [w for w in re.findall(r"\w+", m.group(1)) if w not in printed]
            assert not missing, f"{what}: `{line.strip()}` printed no {missing}:\n{out.stdout}"
    return out


def _check_server(command: str, blocks: list[Block]) -> None:
    port = _port(command)
    clients = [b for b in blocks if b.kind == "python" and "gradio_client" in b.code
               and _loopback_port(b.code) == port]
    with _serving(command, port) as url:
        for b in clients:  # the README's client examples, as written
            _run_python(b.code, f"README:{b.line} against `{command}`")
        if not clients:
            from gradio_client import Client

            docs = Client(url, verbose=False).predict(api_name="/documents")
            listed = {d["doc_id"] for d in docs}
            assert {p.name for p in CORPUS.iterdir()} <= listed, docs


def _reply_from_passage_1(body: dict) -> str:
    """A model that answers with the first sentence of passage [1], cited."""
    prompt = body["messages"][-1]["content"]
    m = re.search(r"^\[1\] .*\n(.+)", prompt, re.M)
    assert m, prompt
    sentence = re.match(r".+?[.!?](?=\s|$)", m.group(1).strip())
    return (sentence.group(0) if sentence else m.group(1).strip()) + " [1]"


def _check_openai(command: str, port: int) -> None:
    from fake_openai_server import FakeOpenAIServer

    if not _port_free(port):
        pytest.fail(f"port {port} is taken; `{command}` needs a model server there")
    with FakeOpenAIServer(_reply_from_passage_1, port=port) as server:
        out = _run(command)
    _ok(out, command)
    model = re.search(r"\bRAG_MODEL=(\S+)", command)
    assert server.requests, "the model server was never asked"
    if model:
        assert server.requests[0]["model"] == model.group(1)
    sentence = _reply_from_passage_1(server.requests[-1]).removesuffix(" [1]")
    assert _normal(sentence) in _normal(out.stdout) and "[1]" in out.stdout, out.stdout


def _check_parse_only(command: str) -> None:
    words = _words(command)
    script = next((w for w in words if w.endswith(".sh")), None)
    if script is not None:
        path = ROOT / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
        return
    out = subprocess.run(["bash", "-c", shlex.join([*words, "--help"])], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    _ok(out, f"{command} --help")
    assert "usage:" in out.stdout.lower()  # argparse; click (ray) says "Usage:"


def _check_eval(command: str) -> None:
    if re.search(r"\brag eval\b", _bare(command)):
        lines = [line.strip() for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()]
        assert any(_bare(command) in line for line in lines if not line.startswith("#")), (
            f"scripts/test.sh must run the README's `{_bare(command)}` (CI's eval run)")
    else:
        _check_parse_only(command)


@contextmanager
def _put_back(*paths: Path) -> Iterator[None]:
    """Each file of ``paths`` (a folder: each file in it) is as it was afterwards, whatever
    happens: rewritten files are written back, files that were not there are removed."""
    files = [f for p in paths
             for f in ([f for f in p.iterdir() if f.is_file()] if p.is_dir() else [p])]
    saved = {f: f.read_bytes() if f.is_file() else None for f in files}
    folders = [p for p in paths if p.is_dir()]
    try:
        yield
    finally:
        added = [f for d in folders for f in d.iterdir() if f.is_file() and f not in saved]
        for f, data in [*saved.items(), *((f, None) for f in added)]:
            if data is None:
                f.unlink(missing_ok=True)
            else:
                write_atomic(f, data)


def test_put_back_restores_rewritten_removed_and_added_files(tmp_path: Path) -> None:
    folder, absent = tmp_path / "model", tmp_path / "draft.txt"
    folder.mkdir()
    (folder / "meta.json").write_text("old")
    (folder / "card.md").write_text("card")
    with pytest.raises(RuntimeError), _put_back(folder, absent):
        (folder / "meta.json").write_text("new")
        (folder / "card.md").unlink()
        (folder / "extra.onnx").write_text("added")
        absent.write_text("written")
        raise RuntimeError("a failed run")
    assert sorted(f.name for f in folder.iterdir()) == ["card.md", "meta.json"]
    assert (folder / "meta.json").read_text() == "old"
    assert (folder / "card.md").read_text() == "card"
    assert not absent.exists()


def _check_recalibration(command: str, model: str) -> None:
    """``python -m rag.train calibrate-support`` / ``calibrate-ranker`` refit a shipped
    model's decision in place: run as written, each must reproduce the committed decision
    (support: same checks and threshold; ranker: same biases, weights, margin and threshold;
    fitted numbers equal but for int8 kernels' last digits), and the committed files are put
    back whatever happens."""
    folder = ROOT / "rag" / "models" / model
    before = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["decision"]
    with _put_back(folder / "meta.json", folder / "MODEL_CARD.md"):
        out = _run(command)
        _ok(out, command)
        after = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["decision"]
    if model == "support":
        assert after["features"] == before["features"], (before, after)
        assert after["threshold"] == before["threshold"], (before, after)
        assert after["weights"] == pytest.approx(before["weights"], abs=0.02), (before, after)
        assert after["bias"] == pytest.approx(before["bias"], abs=0.02), (before, after)
        return
    assert after["bias"].keys() == before["bias"].keys(), (before, after)
    assert after["bias"] == pytest.approx(before["bias"], abs=0.02), (before, after)
    for key in ("weight", "margin", "cosine_weight", "threshold"):
        assert after[key] == pytest.approx(before[key], abs=0.02), (key, before, after)
    assert after["calibration"]["questions"] == before["calibration"]["questions"]


def _check_fit(command: str) -> None:
    """``python -m rag.train fit-composer`` refits the default composer's tunables on the
    calibration questions and rewrites ``rag/train/data/composer_fit.json``: run as written,
    it must reach the committed decisions and figures (the file is put back whatever
    happens)."""
    path = ROOT / "rag" / "train" / "data" / "composer_fit.json"
    before = json.loads(path.read_text(encoding="utf-8"))
    with _put_back(path):
        out = _run(command)
        _ok(out, command)
        after = json.loads(path.read_text(encoding="utf-8"))
    assert after["chosen"] == before["chosen"], (before["chosen"], after["chosen"])
    assert after["metrics"] == pytest.approx(before["metrics"], abs=0.005), (
        before["metrics"], after["metrics"])
    assert "| tunable | shipped | chosen |" in out.stdout, out.stdout


def _check_command(cmd: Command, blocks: list[Block]) -> None:
    text, bare, words = cmd.text, _bare(cmd.text), _words(cmd.text)
    what = f"README:{cmd.line} `{text}`"
    if re.search(r"(^|\s)scripts/test\.sh\b", bare):
        test_ci_runs_the_readme_test_command()
        return
    if _parse_only(bare):
        _check_parse_only(text)
        return
    if re.search(EVAL, bare):
        _check_eval(text)
        return
    if re.search(SERVER, bare):
        _check_server(text, blocks)
        return
    openai = re.search(r"OPENAI_BASE_URL=http://127\.0\.0\.1:(\d+)/v1", bare)
    if openai:
        _check_openai(text, int(openai.group(1)))
        return
    recalibrates = re.search(r"-m rag\.train calibrate-(support|ranker)\b", bare)
    if recalibrates:
        _check_recalibration(text, recalibrates.group(1))
        return
    if re.search(r"-m rag\.train fit-composer\b", bare):
        _check_fit(text)
        return
    out = _run(text)
    checking = re.search(r"\brag check\b", bare)
    _ok(out, what, *((0, 1) if checking else (0,)))
    if re.search(r"\brag index\b", bare):
        assert re.search(r"^index \S+: \d+ documents, \d+ chunks", out.stdout, re.M), out.stdout
    elif re.search(r"\brag ask\b.*--json", bare):
        answer = json.loads(out.stdout)
        assert answer["citations"] and "[1]" in answer["answer"], answer
    elif re.search(r"\brag ask\b", bare):
        assert "Sources:" in out.stdout and "[1]" in out.stdout, out.stdout
    elif "|" in words and re.search(r"\brag chat\b", bare):  # questions piped in
        asked = words[2 : words.index("|")]  # printf FORMAT QUESTION...
        answers = out.stdout.count("Sources:") + out.stdout.count("Closest passages:")
        assert answers == len(asked) >= 2, out.stdout
        assert "(searched as: " in out.stdout, out.stdout
    elif re.search(r"\brag check\b", bare):  # exit 0 when every sentence is supported, else 1
        summary = re.search(r"^(\d+) of (\d+) sentences? supported\.$", out.stdout, re.M)
        assert summary, out.stdout
        every = summary.group(1) == summary.group(2)
        assert out.returncode == (0 if every else 1), (out.returncode, out.stdout)
    elif re.search(r"-m evals\.(claims|scorer_report)\b", bare):  # the checker's reports
        report = json.loads(out.stdout)
        assert 0.0 <= report["balanced_accuracy"] <= 1.0, report
        assert report["model"].startswith("support-"), report["model"]
    elif re.search(r"-m rag\.train probe-answers\b", bare):  # the three probes' tables
        for table in ("calibration CV AUC", "prune by ranker", "first choice over the retrieved"):
            assert table in out.stdout, out.stdout
    elif re.search(r"-m bench\.ray_throughput\b", bare):  # local build vs Ray, side by side
        for row in ("| local |", "| Ray, 1 worker |", "| Ray, 2 workers |"):
            assert row in out.stdout, out.stdout
    elif re.search(r"\brag docs\b", bare):
        for p in CORPUS.iterdir():
            assert p.name in out.stdout, out.stdout
    if ">" in words:
        written = ROOT / words[words.index(">") + 1]
        assert written.is_file() and written.stat().st_size > 0, f"{what} wrote nothing"
    if cmd.shown:
        _assert_shows(cmd.shown, out.stdout)


def _check_cluster(block: Block) -> None:
    """The Ray cluster block on this one machine: the head, a second node joining it, and
    ``rag index`` on the cluster, each line as written with ``HEAD`` the address the head
    printed. ``rag index`` without the token must fail in one line saying how to send it.
    The README's ``ray stop`` runs whatever happens."""
    stop = next(c.text for c in block.commands if re.search(r"\bray stop\b", c.text))
    head = ""
    try:
        for cmd in block.commands:
            if cmd.text == stop:
                continue
            if "HEAD" in _bare(cmd.text):
                assert head, f"README:{cmd.line}: HEAD is used before `ray start --head`"
            command = cmd.text.replace("HEAD:", f"{head}:")
            indexing = re.search(r"\brag index\b", command)
            if indexing:  # first without the token: one line that says how to send it
                without = _run(command.replace("RAY_AUTH_MODE=token ", ""))
                assert without.returncode == 2, (without.returncode, without.stderr[-2000:])
                error = [ln for ln in without.stderr.splitlines() if "error" in ln.lower()]
                assert len(error) == 1 and "RAY_AUTH_MODE=token" in error[0], without.stderr
                assert "Traceback" not in without.stderr, without.stderr
            out = _run(command)
            _ok(out, f"README:{cmd.line} `{command}`")
            if re.search(r"\bray start --head\b", command):
                printed = re.search(r"ray start --address='([\d.]+):6379'", out.stdout + out.stderr)
                assert printed, out.stdout + out.stderr
                head = printed.group(1)
            if indexing:
                assert f"using the Ray cluster at {head}:6379" in out.stderr, out.stderr
                assert re.search(r"^index \S+: \d+ documents", out.stdout, re.M), out.stdout
    finally:
        _ok(subprocess.run(["bash", "-c", stop], cwd=ROOT, env=_env(), capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL), stop)


# ---------------------------------------------------------------------------------------
# The long tier: the PARSE_ONLY commands, run as written (.ci/run-long)
# ---------------------------------------------------------------------------------------
def _run_long(command: str, name: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as written, its output written to ``artifacts/long/NAME.{out,err}``
    as it goes (an hour-long run can be followed with ``tail -f``)."""
    LONG_LOGS.mkdir(parents=True, exist_ok=True)
    out_path, err_path = LONG_LOGS / f"{name}.out", LONG_LOGS / f"{name}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=_env(), stdout=out,
                              stderr=err, stdin=subprocess.DEVNULL, timeout=LONG_TIMEOUT)
    return subprocess.CompletedProcess(done.args, done.returncode, out_path.read_text(),
                                       err_path.read_text())


def _option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


def _check_training(command: str, model: str, name: str) -> None:
    """A training command as written. Into ``rag/models/MODEL`` (the shipped model): it is
    seeded, so it must count the same examples and reach the shipped held-out figures (within
    a point); the committed files are put back whatever happens. Into a folder of its own:
    a model card and a model that loads and scores."""
    words = _words(command)
    folder = _option(words, "--model")
    if folder is not None:
        out = _run_long(command, name)
        _ok(out, command)
        target = ROOT / folder
        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        assert (target / "model.onnx").is_file() and (target / "MODEL_CARD.md").is_file()
        assert meta["name"] == model, meta["name"]
        if model == "ranker":  # the README trains only rankers into folders of their own
            from rag.ranker import AnswerRanker

            pairs = ["Smith won the race.", "It rained on Tuesday."]
            logits = AnswerRanker(target).logits("Who won the race?", pairs)
            assert len(logits) == 2 and logits[0] > logits[1], logits
        return
    shipped = ROOT / "rag" / "models" / model
    before = json.loads((shipped / "meta.json").read_text(encoding="utf-8"))["training"]
    with _put_back(shipped):
        out = _run_long(command, name)
        _ok(out, command)
        after = json.loads((shipped / "meta.json").read_text(encoding="utf-8"))["training"]
    assert after["seed"] == before["seed"] and after["config"] == before["config"]
    assert after["examples"] == before["examples"], "the same seed made other training data"
    for variant, figures in before["export"].items():
        for key, value in figures.items():
            if key.startswith(("balanced_accuracy", "top1")):
                assert after["export"][variant][key] == pytest.approx(value, abs=0.01), (
                    variant, key, value, after["export"][variant][key])


def _check_long(cmd: Command) -> None:
    text, bare, words = cmd.text, _bare(cmd.text), _words(cmd.text)
    name = f"L{cmd.line}"
    train = re.search(r"-m rag\.train (support|ranker)\b", bare)
    if train:
        _check_training(text, train.group(1), name)
        return
    if re.search(r"scripts/llm_eval\.sh\b", bare):
        report_path = ROOT / "artifacts" / "llm-check.json"
        report_path.unlink(missing_ok=True)
        out = _run_long(text, name)
        _ok(out, text)
        report = json.loads(report_path.read_text(encoding="utf-8"))
        assert report["complete"], "llm_eval.sh stopped before the last question"
        assert report["summary"]["questions"] == len(report["cases"]) > 0, report["summary"]
        assert report["summary"]["sentences_drafted"] > 0, report["summary"]
        return
    out = _run_long(text, name)
    _ok(out, text)
    wrote = re.findall(r"wrote (\S+\.json)", out.stdout + out.stderr)
    assert wrote, f"{text}: no report written\n{out.stdout[-2000:]}"
    report = json.loads((ROOT / wrote[-1]).read_text(encoding="utf-8"))
    assert report, wrote[-1]
    assert re.search(r"^\|.*\|$", out.stdout, re.M), f"{text}: no table\n{out.stdout[-2000:]}"
    if re.search(r"-m bench\.run\b", bare):
        model = _option(words, "--model")
        assert report["command"].endswith(" ".join(words[words.index("bench.run") + 1:]))
        if model:
            assert model in json.dumps(report), model


_BLOCKS = readme_blocks()
_RUN = [b for b in _BLOCKS
        if not (b.kind == "python" and "gradio_client" in b.code and _loopback_port(b.code))]
_LONG = [c for c in all_commands(_BLOCKS) if _parse_only(_bare(c.text))]


def test_long_tier_covers_every_parse_only_command() -> None:
    """``.ci/run-long`` runs the long tests as written, and they cover every command CI
    only parses; the cluster block is not one of them (CI runs it)."""
    script = ROOT / ".ci" / "run-long"
    assert os.access(script, os.X_OK), ".ci/run-long is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for needed in ("scripts/setup.sh", "RAG_README_LONG=1", "-m long", "tests/test_readme.py"):
        assert needed in text, needed
    long_lines = {c.line for c in _LONG}
    cluster = [c for c in all_commands(_BLOCKS) if re.search(CLUSTER, _bare(c.text))]
    assert len(cluster) >= 3 and not long_lines & {c.line for c in cluster}, cluster
    assert len(long_lines) >= 8, sorted(long_lines)
    for example in (README.read_text(encoding="utf-8"), text):  # `-k L<n>`: a long line
        for line in re.findall(r"-k \"?L(\d+)", example) + re.findall(r" or L(\d+)", example):
            assert int(line) in long_lines, f"-k L{line} names no long command of the README"


@pytest.mark.model
@pytest.mark.long
@pytest.mark.skipif(not LONG, reason="the long tier only: .ci/run-long (RAG_README_LONG=1)")
@pytest.mark.parametrize("cmd", _LONG, ids=[f"L{c.line}" for c in _LONG])
def test_readme_long_command_runs_as_written(cmd: Command) -> None:
    """A README command too long for CI (training, hour-long benchmarks, the local LLM run),
    run as written in README order by the long tier."""
    _check_long(cmd)


@pytest.fixture(scope="module", autouse=True)
def _keep_project_files() -> Iterator[None]:
    """Files the README's commands write in the project root are put back as they were."""
    with _put_back(ROOT / "draft.txt"):
        yield


def _block_id(b: Block) -> str:
    first = b.commands[0].text if b.commands else b.code
    words = re.sub(r"[^\w./=-]+", "_", first.split("#")[0].strip())[:40].strip("_")
    return f"L{b.line}-{b.kind}-{words}"




@pytest.mark.model
@pytest.mark.parametrize("block", _RUN, ids=[_block_id(b) for b in _RUN])
def test_readme_block_runs_as_written(block: Block) -> None:
    """One README block: its commands in order (gradio_client blocks run with their server)."""
    if block.kind == "python":
        _run_python(block.code, f"README:{block.line} python block")
        return
    if any(re.search(CLUSTER, _bare(c.text)) for c in block.commands):
        _check_cluster(block)
        return
    for cmd in block.commands:
        _check_command(cmd, _BLOCKS)
