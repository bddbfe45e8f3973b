import picohttp
picohttp.HttpServer()
