"""The specification's REST example, ``examples/rest_server.py`` unchanged, as a WSGI application.

``support.example_handler`` runs the example file and takes the handler and
args it gives ``HttpServer`` (the server itself never starts); gunicorn and
waitress serve ``rest_wsgi:application``.  The example keeps its data in
``test.json`` in the working directory, as it does under picohttp.
"""

import picohttp.wsgi
from support import example_handler

handler, args = example_handler("rest_server.py")
application = picohttp.wsgi.application(handler, *args)
