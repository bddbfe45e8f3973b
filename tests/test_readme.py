"""Every fenced code block in README.md and docs/**/*.md is executed, so no page can rot.

The convention (also in docs/development.md, "The documentation is tested").  An HTML comment
on the line before a block's opening fence says how the block is tested:

    (none)                    a ```python block runs as a script and must exit 0
                              (any other block must carry a marker)
    <!-- test: run -->        the same, said explicitly; on a ```sh block: run with bash -e
    <!-- test: pytest -->     a ```python block of test_ functions, run by pytest: every
                              one must pass (and there must be at least one)
    <!-- test: serve PORT [PORT...] -->
                              the block serves forever on PORT.  A ```python block is
                              run as a script; a ```sh block runs each line as a
                              separate server, one after the other.  Each listed PORT
                              is replaced by a free port in the block (and in the
                              blocks that follow, see below); the test waits until
                              the port accepts, then stops the server with Ctrl-C
                              (SIGINT), which must end it quietly: exit status 0 and
                              no traceback
    <!-- test: console -->    a ```console block: each "$ command" runs in bash and its
                              output must equal the lines below it, up to the next "$ "
                              ("..." in an expected line matches anything; trailing
                              spaces, CRs and blank lines are ignored)
    <!-- test: signatures --> each "name(parameters)" line (continued until its ")")
                              must match the real signature of picohttp.name (or
                              picohttp.testing.name, dotted names allowed): the same
                              parameters in the same order, and the same defaults where
                              the listing gives a literal, a name or "N KiB"/"N MiB";
                              names picohttp does not export (the user's handler) are
                              not checked
    <!-- test: file PATH -->  the block is the file PATH of this repository, verbatim
                              (a deploy/ recipe that other tests run)
    <!-- test: skip REASON -->
                              not run; the reason is required and shows in the report

A python ``serve`` block stays up for the blocks after it, up to the next
``serve`` block or the next ``# `` or ``## `` heading of its page: those blocks run while it
serves, with its ports replaced, so ``curl http://127.0.0.1:8080/`` reaches
it.  Every block runs in a scratch directory that holds ``site/index.html``
(``<h1>It works</h1>``), ``app.py`` (``def handler``: "Hello from app.py") and
the files ``python -m trustme`` writes (``server.pem``, ``server.key``,
``client.pem``: a certificate for localhost, 127.0.0.1 and ::1 and its CA),
with ``python``/``python3`` on PATH being this interpreter and ``src/`` on
PYTHONPATH.  A block that needs other files creates them itself.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import picohttp
import picohttp.testing
import picohttp.wsgi
from support import ROOT, free_port, python_env, wait_for_port

README = ROOT / "README.md"
#: Every page whose blocks run: the README, then the documentation site's pages.
PAGES = [README, *sorted((ROOT / "docs").glob("**/*.md"))]
MARKER = re.compile(r"^<!--\s*test:\s*(?P<kind>[\w-]+)(?:\s+(?P<rest>.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
PYTHON = {"python", "py", "python3"}
SHELL = {"sh", "bash", "shell", "console"}
KINDS = {"run", "pytest", "serve", "console", "signatures", "file", "skip"}
TIMEOUT = 60


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    kind: str
    rest: str
    heading: str  # the "# " or "## " section it sits in
    source: str = "README.md"  # the page, relative to the repository


@dataclass
class Scenario:
    """What one test item runs: a block alone, or a server and the blocks that use it."""

    blocks: List[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        first = self.blocks[0]
        return f"{first.source}:line{first.line}-{first.kind}"


def parse_readme(text: str, source: str = "README.md") -> List[Block]:
    blocks: List[Block] = []
    lines = text.split("\n")
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(("# ", "## ")):
            heading = line.lstrip("#").strip()
        opening = FENCE.match(line)
        if not opening:
            index += 1
            continue
        fence = opening["fence"]
        end = index + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{source}:{index + 1}: unclosed code fence")
        previous = index - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = MARKER.match(lines[previous]) if previous >= 0 else None
        kind, rest = (marker["kind"], marker["rest"] or "") if marker else ("", "")
        lang = opening["lang"].lower()
        if not kind:
            kind = "run" if lang in PYTHON else "unmarked"
        blocks.append(
            Block(
                index + 1,
                lang,
                "\n".join(lines[index + 1 : end]) + "\n",
                kind,
                rest,
                heading,
                source,
            )
        )
        index = end + 1
    return blocks


def group(blocks: List[Block]) -> List[Scenario]:
    """Each python serve block takes the blocks after it, up to the next serve or heading."""
    scenarios: List[Scenario] = []
    current: Optional[Scenario] = None
    for block in blocks:
        if current is not None and (
            block.kind == "serve"
            or block.heading != current.blocks[0].heading
            or block.source != current.blocks[0].source
        ):
            current = None
        if current is not None and block.kind in ("run", "pytest", "console"):
            current.blocks.append(block)
            continue
        scenario = Scenario([block])
        scenarios.append(scenario)
        if block.kind == "serve" and block.lang in PYTHON:
            current = scenario
    return scenarios


BLOCKS = [
    block
    for page in PAGES
    for block in parse_readme(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))
]
SCENARIOS = group(BLOCKS)


# -- the environment every block runs in -----------------------------------------

APP = """def handler(request, response):
    response.data = "Hello from app.py"
"""


@functools.cache
def certificate_files() -> Dict[str, bytes]:
    """What ``python -m trustme`` writes: server.pem, server.key and client.pem (the CA)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    return {
        "server.pem": b"".join(pem.bytes() for pem in cert.cert_chain_pems),
        "server.key": cert.private_key_pem.bytes(),
        "client.pem": ca.cert_pem.bytes(),
    }


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>It works</h1>\n")
    (tmp_path / "app.py").write_text(APP)
    for name, data in certificate_files().items():
        (tmp_path / name).write_bytes(data)
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
    return tmp_path


def block_env(scratch: Path) -> Dict[str, str]:
    env = python_env()
    env["PATH"] = f"{scratch / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONWARNINGS", None)
    return env


def substitute(text: str, ports: Dict[str, str]) -> str:
    for documented, actual in ports.items():
        text = re.sub(rf"\b{documented}\b", actual, text)
    return text


def where(block: Block) -> str:
    return f"{block.source}:{block.line} ({block.kind} {block.lang} block)"


# -- running each kind ------------------------------------------------------------


def run_command(
    block: Block, scratch: Path, argv: List[str], env: Optional[Dict[str, str]] = None
) -> str:
    """Run ``argv`` for ``block`` in ``scratch``; it must exit 0.  Returns its stdout."""
    result = subprocess.run(
        argv,
        cwd=scratch,
        env=env if env is not None else block_env(scratch),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{where(block)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def run_script(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    script = scratch / f"block_{block.line}.py"
    script.write_text(substitute(block.text, ports))
    run_command(block, scratch, [sys.executable, script.name])


def run_shell(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    run_command(block, scratch, ["bash", "-e", "-c", substitute(block.text, ports)])


def run_pytest(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    tests = len(re.findall(r"^def test_\w+\(", block.text, re.MULTILINE))
    assert tests, f"{where(block)} defines no test_ function"
    script = scratch / f"test_block_{block.line}.py"
    script.write_text(substitute(block.text, ports))
    env = block_env(scratch)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # plugins (hypothesis...) cost seconds to load
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
    stdout = run_command(block, scratch, argv, env)
    assert f"{tests} passed" in stdout, stdout


def expected_matches(expected: List[str], actual: List[str]) -> bool:
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual):
        pattern = ".*".join(re.escape(piece) for piece in want.split("..."))
        if not re.fullmatch(pattern, got):
            return False
    return True


def clean(lines: List[str]) -> List[str]:
    lines = [line.rstrip("\r ").rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_console(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    commands: List[tuple] = []
    for line in block.text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{where(block)}: output before the first '$ ' command"
            commands[-1][1].append(line)
    assert commands, f"{where(block)} has no '$ ' command"
    for command, expected in commands:
        if re.match(r"\s*curl\b", command) and shutil.which("curl") is None:
            pytest.skip("curl is not installed (scripts/install-system-tools installs it)")
        result = subprocess.run(
            ["bash", "-c", substitute(command, ports)],
            cwd=scratch,
            env=block_env(scratch),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, f"{where(block)}: $ {command}\n{result.stderr}"
        want = clean([substitute(line, ports) for line in expected])
        got = clean(result.stdout.replace("\r\n", "\n").split("\n"))
        assert expected_matches(want, got), (
            f"{where(block)}: $ {command}\nexpected:\n"
            + "\n".join(want)
            + "\ngot:\n"
            + "\n".join(got)
        )


class Server:
    """A block serving in a child process; ``stop`` is Ctrl-C and checks the exit."""

    def __init__(self, block: Block, argv: List[str], scratch: Path, port: int) -> None:
        self.block = block
        self.process = subprocess.Popen(
            argv,
            cwd=scratch,
            env=block_env(scratch),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_port(port, timeout=30, process=self.process)
        except (RuntimeError, TimeoutError):
            self.process.kill()
            stdout, stderr = self.process.communicate()
            message = f"{where(block)} did not serve on {port}:\n{stdout}\n{stderr}"
            raise AssertionError(message) from None
        # The port listens from HttpServer's constructor, Ctrl-C is handled from
        # start(): an answer (any status) proves the server is past both.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as probe:
            probe.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            probe.recv(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, stderr = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
            message = f"{where(self.block)} did not stop on Ctrl-C:\n{stderr}"
            raise AssertionError(message) from None
        assert self.process.returncode == 0, (
            f"{where(self.block)} exit {self.process.returncode}:\n{stderr}"
        )
        assert "Traceback" not in stderr, f"{where(self.block)}:\n{stderr}"


def probe(port: int) -> bytes:
    """One GET / on a fresh connection; the answer's first bytes."""
    from support import exchange

    return exchange(port, b"GET / HTTP/1.0\r\n\r\n")[:64]


def serve_ports(block: Block) -> Dict[str, str]:
    documented = block.rest.split()
    assert documented and all(p.isdigit() for p in documented), (
        f"{where(block)}: 'serve' needs the port(s) the block listens on"
    )
    return {port: str(free_port()) for port in documented}


def run_serve_lines(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    """A shell serve block: each line is a server of its own, started, probed, stopped."""
    lines = [line for line in block.text.split("\n") if line.strip() and not line.startswith("#")]
    assert lines, f"{where(block)} is empty"
    for line in lines:
        command = substitute(line.split(" #")[0], ports)
        port = next((int(p) for p in ports.values() if re.search(rf"\b{p}\b", command)), None)
        assert port is not None, f"{where(block)}: no listed port in {line!r}"
        server = Server(block, ["bash", "-c", f"exec {command}"], scratch, port)
        try:
            answer = probe(port)
        finally:
            server.stop()
        assert answer.startswith(b"HTTP/1.0 "), f"{where(block)}: {line!r} answered {answer!r}"


def run_block(block: Block, scratch: Path, ports: Dict[str, str]) -> None:
    if block.kind == "run":
        if block.lang in PYTHON:
            run_script(block, scratch, ports)
        elif block.lang in SHELL:
            run_shell(block, scratch, ports)
        else:
            raise AssertionError(f"{where(block)}: cannot run a {block.lang!r} block")
    elif block.kind == "pytest":
        run_pytest(block, scratch, ports)
    elif block.kind == "console":
        run_console(block, scratch, ports)
    elif block.kind == "signatures":
        check_signatures(block)
    elif block.kind == "file":
        check_file(block)
    else:
        raise AssertionError(f"{where(block)}: a {block.kind!r} block cannot run here")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_readme_block(scenario: Scenario, scratch: Path) -> None:
    first = scenario.blocks[0]
    if first.kind == "unmarked":
        pytest.fail(f"{where(first)} has no <!-- test: ... --> marker; see tests/test_readme.py")
    if first.kind not in KINDS:
        pytest.fail(f"{where(first)}: unknown marker kind {first.kind!r} (known: {sorted(KINDS)})")
    if first.kind == "skip":
        assert first.rest.strip(), f"{where(first)}: 'skip' needs a reason"
        pytest.skip(f"{where(first)}: {first.rest}")
    if first.kind != "serve":
        run_block(first, scratch, {})
        return
    ports = serve_ports(first)
    if first.lang in SHELL:
        assert len(scenario.blocks) == 1
        run_serve_lines(first, scratch, ports)
        return
    assert first.lang in PYTHON, f"{where(first)}: cannot serve a {first.lang!r} block"
    script = scratch / f"serve_{first.line}.py"
    script.write_text(substitute(first.text, ports))
    server = Server(first, [sys.executable, script.name], scratch, int(next(iter(ports.values()))))
    try:
        for block in scenario.blocks[1:]:
            run_block(block, scratch, ports)
    finally:
        server.stop()


def check_file(block: Block) -> None:
    path = block.rest.strip()
    assert path, f"{where(block)}: 'file' needs the path of the file the block shows"
    assert (ROOT / path).is_file(), f"{where(block)}: no file {path}"
    assert block.text == (ROOT / path).read_text(encoding="utf-8"), (
        f"{where(block)} differs from {path}: copy the file into {block.source} again"
    )


# -- signatures -------------------------------------------------------------------

UNITS = {"KiB": 1024, "MiB": 1024 * 1024}


def split_parameters(text: str) -> List[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def documented_default(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    unit = re.fullmatch(r"(\d+) (KiB|MiB)", text)
    if unit:
        return int(unit[1]) * UNITS[unit[2]]
    return NameRef(text)


@dataclass
class NameRef:
    name: str


def resolve(name: str) -> Any:
    for module in (picohttp, picohttp.testing):
        target: Any = module
        for part in name.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        else:
            return target
    return None


def real_parameters(function: Any) -> List[tuple]:
    shown = []
    star_done = False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name == "self":
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            shown.append(("*" + parameter.name, inspect.Parameter.empty))
            star_done = True
        elif parameter.kind is parameter.VAR_KEYWORD:
            shown.append(("**" + parameter.name, inspect.Parameter.empty))
        else:
            if parameter.kind is parameter.KEYWORD_ONLY and not star_done:
                shown.append(("*", inspect.Parameter.empty))
                star_done = True
            shown.append((parameter.name, parameter.default))
    return shown


def check_signatures(block: Block) -> None:
    entries = []  # (name, parameters): from a name at a line start to its matching ")"
    for match in re.finditer(r"^([A-Za-z_][\w.]*)\(", block.text, re.MULTILINE):
        start = match.end()
        depth, end = 1, start
        while depth:
            depth += {"(": 1, ")": -1}.get(block.text[end], 0)
            end += 1
        entries.append((match[1], " ".join(block.text[start : end - 1].split())))
    assert entries, f"{where(block)} lists no signature"
    checked = 0
    for name, parameters in entries:
        target = resolve(name)
        if target is None:
            continue
        checked += 1
        documented = []
        for part in split_parameters(parameters):
            pname, equals, default = part.partition("=")
            documented.append(
                (
                    pname.strip(),
                    documented_default(default.strip()) if equals else inspect.Parameter.empty,
                )
            )
        real = real_parameters(target)
        assert [n for n, _ in documented] == [n for n, _ in real], (
            f"{where(block)}: {name} is documented as ({parameters}), "
            f"but is {inspect.signature(target)}"
        )
        for (pname, want), (_, have) in zip(documented, real):
            if want is inspect.Parameter.empty:
                continue
            if isinstance(want, NameRef):
                ok = getattr(have, "__name__", None) == want.name
            else:
                ok = want == have
            assert ok, f"{where(block)}: {name}({pname}=...) is documented as {want!r}, is {have!r}"
    assert checked, f"{where(block)}: none of its names is picohttp's"


# -- the convention itself --------------------------------------------------------


def test_the_pages_have_blocks_of_every_kind_they_promise():
    kinds = {block.kind for block in BLOCKS}
    assert {"serve", "console", "pytest", "signatures", "file"} <= kinds, kinds
    assert "unmarked" not in kinds, [where(b) for b in BLOCKS if b.kind == "unmarked"]
    sources = {block.source for block in BLOCKS}
    assert "README.md" in sources and "docs/index.md" in sources, sorted(sources)
    assert "docs/reference/api.md" in sources, sorted(sources)


def test_the_readme_stays_short():
    """The README is the front door; everything else lives in docs/."""
    assert len(README.read_bytes()) < 15 * 1024, "README.md is over 15 KB: move detail into docs/"


def nav_pages(text: str) -> List[str]:
    """The pages mkdocs.yml's nav names (``- Title: path.md`` lines)."""
    return re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$", text, re.MULTILINE)


def test_every_docs_page_is_in_the_nav():
    listed = set(nav_pages((ROOT / "mkdocs.yml").read_text(encoding="utf-8")))
    pages = {str(page.relative_to(ROOT / "docs")) for page in PAGES[1:]}
    assert pages - listed == set(), "pages mkdocs.yml's nav leaves out"
    assert listed - pages == set(), "nav entries without a page"


def test_parser_reads_markers_fences_and_sections():
    text = (
        "# Page\n\n```python\nprint(0)\n```\n\n"
        "## One\n\n<!-- test: serve 8080 -->\n```python\nserve()\n```\n\n"
        "<!-- test: console -->\n```console\n$ curl x\nok\n```\n\n"
        "```python\nprint(1)\n```\n\n## Two\n\n```sh\nls\n```\n\n"
        "<!-- test: skip no reason needed here -->\n````text\n```\nnested\n```\n````\n"
    )
    blocks = parse_readme(text, "docs/page.md")
    assert {b.source for b in blocks} == {"docs/page.md"}
    assert [(b.kind, b.lang, b.heading, b.rest) for b in blocks] == [
        ("run", "python", "Page", ""),
        ("serve", "python", "One", "8080"),
        ("console", "console", "One", ""),
        ("run", "python", "One", ""),
        ("unmarked", "sh", "Two", ""),
        ("skip", "text", "Two", "no reason needed here"),
    ]
    assert blocks[5].text == "```\nnested\n```\n"
    scenarios = group(blocks)
    assert [[b.line for b in s.blocks] for s in scenarios] == [
        [blocks[0].line],
        [blocks[1].line, blocks[2].line, blocks[3].line],
        [blocks[4].line],
        [blocks[5].line],
    ]
    # a server never stays up into the next page
    other = parse_readme("<!-- test: console -->\n```console\n$ true\n```\n", "docs/other.md")
    assert [len(s.blocks) for s in group(blocks[:3] + other)] == [1, 2, 1]


def test_expected_output_matching():
    assert expected_matches(["Date: ...", "x"], ["Date: Thu, 1 Jan", "x"])
    assert not expected_matches(["a"], ["b"])
    assert not expected_matches(["a"], ["a", "b"])
    assert expected_matches(clean(["a ", "", ""]), clean(["a\r", ""]))
