"""The spec's hello handler over a real socket, in both concurrency modes."""

import http.client

from support import serving


def hello(request, response):
    if request.path[0] == "hello":
        response.data = "Hello world!"
    else:
        response.status = 404
        response.data = "I don't know what to say"


def test_hello_over_http_client(threads):
    with serving(hello, threads=threads) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/hello")
        reply = connection.getresponse()
        assert reply.status == 200
        assert reply.read() == b"Hello world!"
        assert reply.getheader("Content-Length") == "12"
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/nothing")
        reply = connection.getresponse()
        assert reply.status == 404
        assert reply.read() == b"I don't know what to say"
