"""``pip install``: a wheel with py.typed and the console script, into a fresh venv.

The wheel is built the way ``pip install .`` builds it (PEP 517, setuptools),
with the development environment's setuptools so that no network is needed,
then installed into a new virtual environment that has no access to this
checkout; everything is checked from there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from support import ROOT, exchange, free_port, parse_response, wait_for_port

CHECK = textwrap.dedent(
    """
    import inspect, json, os, sys
    import picohttp
    package = os.path.dirname(picohttp.__file__)
    signature = inspect.signature(picohttp.HttpServer)
    print(json.dumps({
        "file": picohttp.__file__,
        "prefix": sys.prefix,
        "py_typed": os.path.exists(os.path.join(package, "py.typed")),
        "names": sorted(n for n in ("HttpServer", "HttpRequest", "HttpResponse", "staticResource")
                        if hasattr(picohttp, n)),
        "defaults": [repr(p.default) for p in list(signature.parameters.values())[:6]],
        "handler_is_static": signature.parameters["handler"].default is picohttp.staticResource,
    }))
    """
)


def clean_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(args: list, **kwargs: object) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stdout + result.stderr
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    try:
        import setuptools
        import wheel  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"building needs setuptools and wheel in this environment ({exc})")
    if int(setuptools.__version__.split(".")[0]) < 61:
        pytest.skip(
            f"setuptools {setuptools.__version__} predates pyproject metadata (the dev extra)"
        )
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    dist = work / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(dist), str(source)],
        env=clean_env(),
        cwd=work,
    )  # fmt: skip
    wheels = list(dist.glob("picohttp-*.whl"))
    assert len(wheels) == 1
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    python = venv / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--disable-pip-version-check", str(wheels[0])],
        env=clean_env(),
        cwd=work,
    )  # fmt: skip
    return {"work": work, "wheel": wheels[0], "venv": venv, "python": python}


def test_wheel_contents(installed: Dict[str, Path]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = archive.read(metadata).decode()
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert "picohttp/py.typed" in names
    assert "picohttp/__init__.py" in names and "picohttp/__main__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/"))]
    assert "Requires-Python: >=3.9" in meta
    assert "Requires-Dist" not in meta.split("Provides-Extra")[0]  # no run-time dependencies
    assert "picohttp = picohttp._cli:main" in entry_points


def test_importable_from_the_fresh_venv(installed: Dict[str, Path]) -> None:
    result = run([str(installed["python"]), "-c", CHECK], env=clean_env(), cwd=installed["work"])
    facts = json.loads(result.stdout)
    assert facts["file"].startswith(str(installed["venv"]))  # not this checkout
    assert facts["py_typed"]
    assert facts["names"] == ["HttpRequest", "HttpResponse", "HttpServer", "staticResource"]
    assert facts["defaults"][0] == "80"
    assert facts["defaults"][2:] == ["()", "True", "True", "True"]
    assert facts["handler_is_static"]


def test_console_script_serves(installed: Dict[str, Path], tmp_path: Path) -> None:
    script = installed["venv"] / "bin" / "picohttp"
    assert script.exists()
    (tmp_path / "page.txt").write_text("from the installed package")
    port = free_port()
    process = subprocess.Popen(
        [str(script), str(port), "--bind", "127.0.0.1", "--quiet"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process=process)
        status, _, body = parse_response(exchange(port, b"GET /page.txt HTTP/1.0\r\n\r\n"))
        assert (status, body) == (200, b"from the installed package")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stderr == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    module = run(
        [str(installed["python"]), "-m", "picohttp", "--help"], env=clean_env(), cwd=tmp_path
    )
    assert "--directory" in module.stdout


def test_the_readme_first_handler_runs_as_written_after_the_install(
    installed: Dict[str, Path], tmp_path: Path
) -> None:
    """README.md: "Save this as hello.py and run python hello.py", with the installed python."""
    readme = (ROOT / "README.md").read_text()
    assert "pip install .\n" in readme  # the install line the README gives
    code = readme.split("Save this as `hello.py`", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0]
    port = free_port()
    (tmp_path / "hello.py").write_text(code.replace("8080", str(port)))
    process = subprocess.Popen(
        [str(installed["python"]), "hello.py"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # where it listens, before it serves
        assert line.startswith(f"picohttp serving on http://127.0.0.1:{port}/"), line
        assert "(Ctrl-C to stop)" in line
        status, _, body = parse_response(exchange(port, b"GET /hello HTTP/1.0\r\n\r\n"))
        assert (status, body) == (200, b"Hello world!")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
