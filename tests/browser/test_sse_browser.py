"""A browser's ``EventSource`` on a picohttp event stream (headless Chromium, Playwright).

The handler's generator yields ``text/event-stream`` events; the page lists
each one as it arrives and acknowledges it with a ``fetch``, and the generator
produces the next event only after that acknowledgement.  So the test proves
that every event reached the browser while its generator was still running,
in order, decoded as UTF-8, with no reconnection, console error or failed
request.  Skips as ``test_browser.py`` does where Playwright or Chromium is
missing (its launch helpers are reused).
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List

from test_browser import CHROMIUM, CHROMIUM_ARGS, pytestmark  # noqa: F401 - the skip marks

from support import ARTIFACTS, serving

EVENTS = 5

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>events</title></head>
<body>
<h1>Events</h1>
<ol id="log"></ol>
<script>
"use strict";
const log = document.getElementById("log");
const source = new EventSource("/events");
source.addEventListener("tick", async (event) => {
  const item = document.createElement("li");
  item.textContent = event.lastEventId + ": " + event.data;
  log.appendChild(item);
  if (log.children.length === COUNT) {
    source.close();  // before the last acknowledgement lets the stream end
    document.body.dataset.done = "yes";
  }
  await fetch("/ack?n=" + event.lastEventId);
});
source.addEventListener("error", () => {
  if (source.readyState !== EventSource.CLOSED || !document.body.dataset.done) {
    document.body.dataset.errors = (document.body.dataset.errors || "") + "e";
  }
});
</script>
</body>
</html>
""".replace("COUNT", str(EVENTS))


class EventSite:
    """``/``: the page; ``/events``: the stream; ``/ack?n=N``: the page saw event N."""

    def __init__(self) -> None:
        self.acks = [threading.Event() for _ in range(EVENTS)]
        self.acked_in_time: List[bool] = []
        self.stream_requests: List[Dict[str, str]] = []
        self.finished = threading.Event()

    def __call__(self, request: Any, response: Any) -> None:
        where = request.path[0]
        if where == "events":
            self.stream_requests.append(dict(request.headers))
            response.headers["Content-Type"] = "text/event-stream"
            response.headers["Cache-Control"] = "no-cache"
            response.data = self.events()
        elif where == "ack":
            self.acks[int(request.query["n"])].set()
            response.status = 204
        else:
            response.data = PAGE

    def events(self) -> Any:
        try:
            yield ": picohttp event stream\nretry: 60000\n\n"  # a comment; no quick reconnects
            for n in range(EVENTS):
                yield f"id: {n}\nevent: tick\ndata: tick {n} ü\n\n"
                self.acked_in_time.append(self.acks[n].wait(15))
                if not self.acked_in_time[-1]:
                    return
        finally:
            self.finished.set()


def test_event_source_receives_events_in_order():
    from playwright.sync_api import sync_playwright

    # threads=True: the stream keeps one worker thread while the acknowledgements
    # are served by others.  (With threads=False a generator that waits holds the
    # loop itself, so the acknowledgement could never be served: see the README.)
    threads = True

    site = EventSite()
    console_errors: List[str] = []
    page_errors: List[str] = []
    failed: List[str] = []
    with serving(site, threads=threads) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(f"http://127.0.0.1:{server.port}/", wait_until="load")
            page.wait_for_selector("body[data-done='yes']", timeout=20000)
            items = page.locator("#log li").all_inner_texts()
            errors = page.evaluate("document.body.dataset.errors || ''")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"browser-event-source-{threads}.png"))
            version = browser.version
        finally:
            browser.close()
        assert site.finished.wait(15)
    assert items == [f"{n}: tick {n} ü" for n in range(EVENTS)]
    assert site.acked_in_time == [True] * EVENTS  # each event arrived before the next was made
    assert len(site.stream_requests) == 1  # no reconnection
    assert site.stream_requests[0].get("Accept") == "text/event-stream"
    assert errors == "" and console_errors == [] and page_errors == []
    assert [url for url in failed if "/events" not in url] == []
    print(f"\nChromium {version} (threads={threads}) EventSource saw: {items}")
