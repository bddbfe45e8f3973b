"""Headless Chromium on the recipes: a single-page app, ES modules, and CORS.

1. A single-page app served with ``staticResource(..., fallback="index.html")``:
   Chromium opens a client-side route directly (``/users/42``, as a reload or a
   bookmark does), the app's ES module (``<script type="module">`` importing a
   second module) runs and renders that route; a route reached by
   ``history.pushState`` survives ``reload()``.  The server's ``mimetypes`` is
   made wrong on purpose (``.js`` -> ``text/plain``): module scripts run only
   with a JavaScript type, so this also proves picohttp's own table wins.  A
   control page loads a module served as ``text/plain`` and Chromium refuses it.
2. A page on one origin calls an API on another with ``PUT`` and a custom
   header (a preflighted request): through ``cors()`` it works, and the
   handler never sees the preflight; without it the browser blocks the call.

Skips like ``test_browser.py`` (whose launch settings it reuses) when
Playwright or Chromium is missing.
"""

from __future__ import annotations

import functools
import mimetypes
import threading
from pathlib import Path
from typing import Any, List, Tuple

from test_browser import CHROMIUM, CHROMIUM_ARGS
from test_browser import pytestmark as browser_marks

from picohttp import Router, cors, staticResource
from support import ARTIFACTS, serving

pytestmark = browser_marks

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>picohttp SPA</title>
<link rel="icon" href="data:,">
<script type="module" src="/js/main.js"></script>
</head>
<body>
<nav><a id="to-settings" href="/settings">settings</a></nav>
<main id="app">loading…</main>
</body>
</html>
"""

MAIN_JS = """import { render } from "./views.mjs";

function show() {
  document.getElementById("app").textContent = render(location.pathname);
  document.body.dataset.route = location.pathname;
}
document.getElementById("to-settings").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", "/settings");
  show();
});
show();
window.moduleRan = true;
"""

VIEWS_MJS = """export function render(path) {
  const user = path.match(/^\\/users\\/(\\d+)$/);
  if (user) return "User " + user[1];
  if (path === "/settings") return "Settings";
  if (path === "/") return "Home";
  return "Not found in the app: " + path;
}
"""

CONTROL_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>control</title><link rel="icon" href="data:,">
<script type="module" src="/plain/module.js"></script></head>
<body><p>control</p></body></html>
"""

CALLER_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>caller</title><link rel="icon" href="data:,">
</head>
<body><p>calls another origin</p></body></html>
"""


def make_app(root: Path) -> None:
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "js" / "main.js").write_text(MAIN_JS, encoding="utf-8")
    (root / "js" / "views.mjs").write_text(VIEWS_MJS, encoding="utf-8")
    (root / "control.html").write_text(CONTROL_HTML, encoding="utf-8")
    (root / "caller.html").write_text(CALLER_HTML, encoding="utf-8")


class Logged:
    """Wraps a handler and records (method, uri, status) of each answer."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.log: List[Tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, response: Any) -> None:
        self.handler(request, response)
        with self.lock:
            self.log.append((request.method, request.uri, response.status))


def test_single_page_app_with_es_modules_and_a_wrong_mimetypes(tmp_path, monkeypatch) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "dist"
    make_app(root)
    mimetypes.init()
    for extension in (".js", ".mjs"):  # what some Windows registries say
        monkeypatch.setitem(mimetypes.types_map, extension, "text/plain")
    assert mimetypes.guess_type("main.js")[0] == "text/plain"

    router = Router()

    @router.route("GET", "/plain/module.js")
    def plain_module(request: Any, response: Any) -> None:
        response.headers["Content-Type"] = "text/plain"  # the type a wrong table gives
        response.data = "window.plainRan = true;"

    router.mount("/", staticResource, staticBase=str(root), fallback="index.html")
    site = Logged(router)
    errors: List[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with serving(site) as server, sync_playwright() as playwright:
        origin = f"http://127.0.0.1:{server.port}"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 400})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )

            # 1. Straight to a client-side route: the server answers it with the app.
            page.goto(origin + "/users/42", wait_until="load")
            page.wait_for_selector("body[data-route='/users/42']", timeout=15000)
            rendered = page.inner_text("#app")
            module_ran = page.evaluate("window.moduleRan === true")
            page.screenshot(path=str(ARTIFACTS / "browser-spa-route.png"))
            assert rendered == "User 42"
            assert module_ran
            assert errors == []
            with site.lock:
                answers = {uri: status for _, uri, status in site.log}
            assert answers["/users/42"] == 200
            assert answers["/js/main.js"] == 200 and answers["/js/views.mjs"] == 200

            # 2. A route reached inside the app survives a reload.
            page.click("#to-settings")
            page.wait_for_selector("body[data-route='/settings']", timeout=15000)
            page.reload(wait_until="load")
            page.wait_for_selector("body[data-route='/settings']", timeout=15000)
            assert page.inner_text("#app") == "Settings"
            assert errors == []

            # 3. The control: a module served as text/plain is refused by Chromium.
            page.goto(origin + "/control.html", wait_until="load")
            page.wait_for_timeout(300)  # nothing to wait for: the script must not run
            assert page.evaluate("window.plainRan === undefined")
            refused = [text for text in errors if "MIME type" in text]
            assert refused, errors
            print(
                f"\nChromium {browser.version}: /users/42 rendered {rendered!r} by an ES module "
                f"(main.js importing views.mjs) although mimetypes said text/plain; a reload of "
                f"/settings rendered 'Settings'; a text/plain module was refused: {refused[0]!r}"
            )
        finally:
            browser.close()


def test_cross_origin_calls_need_cors(tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "dist"
    make_app(root)
    seen: List[str] = []
    lock = threading.Lock()

    def api(request: Any, response: Any) -> None:
        with lock:
            seen.append(request.method)
        response.data = {"method": request.method, "token": request.headers.get("X-Token")}

    with serving(functools.partial(staticResource, staticBase=str(root))) as pages:
        origin = f"http://127.0.0.1:{pages.port}"
        with (
            serving(cors(api, origins=[origin])) as allowed,
            serving(api) as closed,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(origin + "/caller.html", wait_until="load")
                call = """async (url) => {
                    try {
                        const reply = await fetch(url, {method: "PUT", body: "x",
                            headers: {"X-Token": "secret", "Content-Type": "application/json"}});
                        return [reply.status, await reply.json()];
                    } catch (error) { return ["blocked", String(error)]; }
                }"""
                granted = page.evaluate(call, f"http://127.0.0.1:{allowed.port}/items/pen")
                blocked = page.evaluate(call, f"http://127.0.0.1:{closed.port}/items/pen")
            finally:
                browser.close()
    assert granted == [200, {"method": "PUT", "token": "secret"}]
    assert blocked[0] == "blocked" and "Failed to fetch" in blocked[1]
    # The allowed API saw only the PUT (cors answered the preflight itself); the
    # closed one got the browser's preflight and answered it without a grant, so
    # the PUT was never sent.
    assert seen == ["PUT", "OPTIONS"]
