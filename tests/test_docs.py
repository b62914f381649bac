"""Every code snippet in README.md and docs/ runs, and prints what the documentation says.

Fenced blocks are found in ``README.md`` and every ``docs/**/*.md`` file, so a new section is
tested as soon as it is written:

* ``python`` blocks run in order, one namespace per document, in an empty working directory.
  Full-line comments right after a ``print(...)`` line are that print's expected output and must
  appear, line for line, in what the block prints.
* ``sh`` blocks: every line that invokes ``systolic`` or ``python -m systolic`` runs and must exit
  with status 0 (``make`` and other lines are left to CI, which runs the make targets itself).
* ``text`` blocks whose lines start with ``$ `` are terminal sessions: each command runs and its
  output (stdout and stderr) must equal the lines shown under it.

Commands run in an empty working directory holding a link to ``examples/``, so relative paths in
the documents work and nothing is written into the repository. A block opts out only with an
HTML comment on the line before its fence, ``<!-- not run: reason -->``, or for the lines of a
block that start with a given command, ``<!-- not run "systolic sim": reason -->``.

The demo table in the README is compared with what ``examples/demo.py`` prints.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = {"sh", "bash", "console", "shell"}
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r'^<!--\s*not run(?:\s+"(?P<prefix>[^"]+)")?\s*:\s*(?P<reason>\S.*?)\s*-->$')


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its text and its opt-out marker."""

    path: Path
    line: int          # line number of the opening fence, 1-based
    lang: str
    code: str
    skip_all: bool     # ``<!-- not run: reason -->``
    skip_prefix: str   # ``<!-- not run "prefix": reason -->`` ("" when absent)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(text: str, path: Path = ROOT / "README.md") -> list[Block]:
    """The fenced blocks of a Markdown text, with the marker on the line before each fence."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        if end is None:
            raise ValueError(f"{path.name}:{i + 1}: code fence is never closed")
        before = lines[i - 1].strip() if i > 0 else ""
        marker = MARKER.match(before)
        if before.startswith("<!--") and "not run" in before and not marker:
            raise ValueError(f"{path.name}:{i}: write the marker as <!-- not run: reason --> "
                             f'or <!-- not run "command": reason -->')
        blocks.append(Block(path, i + 1, opening.group(1).lower(), "\n".join(lines[i + 1:end]),
                            bool(marker) and not marker.group("prefix"),
                            (marker.group("prefix") or "") if marker else ""))
        i = end + 1
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in parse_blocks(path.read_text("utf-8"), path)]


def expected_prints(code: str) -> list[list[str]]:
    """Runs of full-line comments that directly follow a ``print(...)`` line."""
    runs, lines = [], code.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("print("):
            continue
        run = []
        for follow in lines[i + 1:]:
            if not follow.startswith("# "):
                break
            run.append(follow[2:].rstrip())
        if run:
            runs.append(run)
    return runs


def contains_run(output: list[str], run: list[str]) -> bool:
    return any(output[i:i + len(run)] == run for i in range(len(output) - len(run) + 1))


def is_systolic_command(command: str) -> bool:
    words = shlex.split(command, comments=True)
    module = words[2] if words[:2] == ["python", "-m"] and len(words) > 2 else ""
    return words[:1] == ["systolic"] or module.split(".")[0] == "systolic"


def sessions(code: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a terminal session, each with the output lines under it."""
    runs: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs:
            runs[-1][1].append(line.rstrip())
    return [(command, _trim(output)) for command, output in runs]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


@pytest.fixture
def workdir(tmp_path):
    """An empty directory that sees the repository's examples, as a new user's checkout would."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    # `systolic` and `python` are the ones of the interpreter running the tests.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               MPLBACKEND="Agg", COLUMNS="100")
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


# ---------------------------------------------------------------- the extractor itself

SAMPLE = '''# Title

```python
print(1 + 1)
# 2
```

<!-- not run: needs a GPU -->
```python
raise SystemExit
```

<!-- not run "systolic sim": slow -->
```sh
systolic matmul --dims 4x4
systolic sim --rows 64 --cols 64
make test
```

```text
$ systolic --help
usage: systolic

```
'''


def test_extractor_reads_blocks_markers_outputs_and_sessions():
    blocks = parse_blocks(SAMPLE)
    assert [(b.line, b.lang, b.skip_all, b.skip_prefix) for b in blocks] == [
        (3, "python", False, ""), (9, "python", True, ""), (14, "sh", False, "systolic sim"),
        (20, "text", False, "")]
    assert expected_prints(blocks[0].code) == [["2"]]
    assert [is_systolic_command(line) for line in blocks[2].code.splitlines()] == [
        True, True, False]
    assert sessions(blocks[3].code) == [("systolic --help", ["usage: systolic"])]
    assert contains_run(["a", "b", "c"], ["b", "c"]) and not contains_run(["a", "b"], ["b", "a"])


@pytest.mark.parametrize("text, message", [
    ("```python\nx = 1\n", r"README.md:1: code fence is never closed"),
    ("<!-- not run -->\n```python\nx\n```\n", r"README.md:1: write the marker as"),
    ("<!-- not run: -->\n```python\nx\n```\n", r"README.md:1: write the marker as"),
])
def test_extractor_refuses_unclosed_fences_and_markers_without_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_blocks(text)


def test_the_documents_have_snippets_to_run():
    # Guards the extractor against silently finding nothing.
    assert sum(b.lang == "python" and not b.skip_all for b in BLOCKS) >= 3
    assert sum(b.lang in SHELL for b in BLOCKS) >= 2
    assert sum(b.lang == "text" and bool(sessions(b.code)) for b in BLOCKS) >= 4


# ---------------------------------------------------------------- the documents' snippets

PYTHON_DOCS = sorted({b.path for b in BLOCKS if b.lang == "python" and not b.skip_all})


@pytest.mark.parametrize("path", PYTHON_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_snippets_run_and_print_what_the_docs_show(path, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    for block in (b for b in BLOCKS if b.path == path and b.lang == "python" and not b.skip_all):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102
        printed = stdout.getvalue().splitlines()
        for run in expected_prints(block.code):
            assert contains_run([line.rstrip() for line in printed], run), (
                f"{block.where}: the snippet printed\n{stdout.getvalue()}\n"
                f"which does not contain the documented\n" + "\n".join(run))


COMMANDS = [pytest.param(block, line, id=f"{block.where} {line.split('#')[0].strip()}")
            for block in BLOCKS if block.lang in SHELL and not block.skip_all
            for line in block.code.splitlines()
            if is_systolic_command(line)
            and not (block.skip_prefix and line.startswith(block.skip_prefix))]


@pytest.mark.parametrize("block, command", COMMANDS)
def test_shell_snippets_succeed(block, command, workdir):
    result = run_shell(command, workdir)
    assert result.returncode == 0, f"{block.where}: `{command}` failed:\n{result.stdout}"


SESSIONS = [pytest.param(block, id=block.where) for block in BLOCKS
            if block.lang == "text" and sessions(block.code) and not block.skip_all]


@pytest.mark.parametrize("block", SESSIONS)
def test_terminal_sessions_print_what_the_docs_show(block, workdir):
    for command, shown in sessions(block.code):
        if block.skip_prefix and command.startswith(block.skip_prefix):
            continue
        printed = _trim([line.rstrip() for line in run_shell(command, workdir).stdout.splitlines()])
        assert printed == shown, (f"{block.where}: `{command}` prints\n" + "\n".join(printed)
                                  + "\nbut the document shows\n" + "\n".join(shown))


def test_readme_demo_table_is_what_the_demo_prints():
    readme = (ROOT / "README.md").read_text("utf-8")
    intro = readme.index("`make demo` prints")
    table = next(b for b in parse_blocks(readme) if b.lang == "text"
                 and b.line > readme[:intro].count("\n") + 1)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        runpy.run_path(str(ROOT / "examples" / "demo.py"), run_name="__main__")
    # Each run's wall time ("(132 ms, equals numpy)") differs from run to run; the rest must not.
    printed = [re.sub(r"\s+\(\d+ ms, equals numpy\)$", "", line).rstrip()
               for line in stdout.getvalue().splitlines()]
    start = next(i for i, line in enumerate(printed) if line.startswith("dataflow / timing"))
    end = printed.index("", start)
    assert table.code.splitlines() == printed[start:end]
