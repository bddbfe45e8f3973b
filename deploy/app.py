# /home/pi/app/app.py: a picohttp application behind nginx (see README "Deploying")
import picohttp


def handler(request, response):
    response.data = f"Hello {request.client[0]}, over {request.scheme}\n"


if __name__ == "__main__":  # gunicorn imports this module: then no server starts here
    picohttp.HttpServer(8080, handler, host="127.0.0.1", trustProxy=True)
