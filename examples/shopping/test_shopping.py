"""Tests of shopping.py with picohttp's test client: run `python -m pytest` here."""

from picohttp.testing import Client
from shopping import errors, make_app

ANN = ("ann", "correct horse")
BOB = ("bob", "battery staple")


def new_client():
    return Client(make_app({}), errorHandler=errors)


def test_everything_needs_a_password():
    client = new_client()
    for path in ("/", "/api/items"):
        response = client.get(path)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="Shopping list"')
    assert client.get("/api/items", auth=("ann", "wrong")).status == 401


def test_add_list_and_remove_items():
    client = new_client()
    assert client.put("/api/items/tea", json={"count": 2}, auth=ANN).json() == {
        "count": 2,
        "by": "ann",
    }
    client.put("/api/items/oat milk", json={"count": 1}, auth=BOB)
    assert client.get("/api/items", auth=ANN).json() == {
        "tea": {"count": 2, "by": "ann"},
        "oat milk": {"count": 1, "by": "bob"},
    }
    assert client.delete("/api/items/tea", auth=BOB).status == 204
    assert list(client.get("/api/items", auth=ANN).json()) == ["oat milk"]


def test_api_errors_are_json():
    client = new_client()
    missing = client.delete("/api/items/cake", auth=ANN)
    assert (missing.status, missing.json()) == (404, {"error": "no cake on the list"})
    wrong = client.put("/api/items/tea", json={"count": "two"}, auth=ANN)
    assert (wrong.status, wrong.json()) == (422, {"error": 'send {"count": a whole number}'})
    broken = client.put(
        "/api/items/tea", {"Content-Type": "application/json"}, '{"count": 2', auth=ANN
    )
    assert broken.status == 400 and "line 1 column 12" in broken.json()["error"]
    not_allowed = client.post("/api/items", auth=ANN)
    assert (not_allowed.status, not_allowed.headers["Allow"]) == (405, "GET, HEAD")
    assert not_allowed.json() == {"error": "Method Not Allowed"}


def test_the_page_is_served_beside_the_api():
    page = new_client().get("/", auth=ANN)
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Shopping list</h1>" in page.text
    refused = new_client().get("/")
    assert refused.text == "<h1>401</h1><p>Unauthorized</p>"
