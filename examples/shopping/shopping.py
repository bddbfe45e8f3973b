"""A shopping list for the house: a JSON API, a page that uses it, a password.

Run it here with `python shopping.py`, then open http://127.0.0.1:8080/.
"""

import html
from pathlib import Path

import picohttp

SITE = Path(__file__).parent / "site"
USERS = {"ann": "correct horse", "bob": "battery staple"}


def make_app(items):
    router = picohttp.Router()

    @router.route("GET", "/api/items")
    def list_items(request, response):
        response.data = items

    @router.route("PUT", "/api/items/{name}")
    def put_item(request, response, name):
        item = request.json
        if not isinstance(item, dict) or type(item.get("count")) is not int:
            raise picohttp.HttpError(422, 'send {"count": a whole number}')
        items[name] = {"count": item["count"], "by": request.user}
        response.data = items[name]

    @router.route("DELETE", "/api/items/{name}")
    def delete_item(request, response, name):
        if items.pop(name, None) is None:
            raise picohttp.HttpError(404, f"no {name} on the list")
        response.status = 204

    router.mount("/", picohttp.staticResource, staticBase=str(SITE))
    return picohttp.basicAuth(router, USERS, realm="Shopping list")


def errors(request, response, status, message):
    if request.path[0] == "api":
        response.data = {"error": message}
    else:
        response.data = f"<h1>{status}</h1><p>{html.escape(message)}</p>"


if __name__ == "__main__":
    picohttp.HttpServer(8080, make_app({}), errorHandler=errors)
