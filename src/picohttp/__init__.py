"""picohttp: a minimal HTTP/1.0 server framework.

An application gives ``HttpServer`` one handler function; picohttp listens,
parses each request into an ``HttpRequest``, lets the handler fill an
``HttpResponse``, sends it and closes the connection::

    import picohttp

    def requestHandler(request, response):
        response.data = "Hello world!"

    picohttp.HttpServer(8080, requestHandler)

Standard library only.  The public names follow the specification's spelling.
"""

from ._auth import basicAuth
from ._errors import HttpError, LocalProtocolError, ProtocolError, RemoteProtocolError
from ._headers import Headers
from ._message import HttpRequest, HttpResponse
from ._router import Router
from ._server import HttpServer
from ._static import staticResource
from ._wrappers import cors, withHeaders

__version__ = "0.1.0"

__all__ = [
    "Headers",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "HttpServer",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Router",
    "basicAuth",
    "cors",
    "staticResource",
    "withHeaders",
]
