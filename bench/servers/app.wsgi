# The benchmark applications, one WSGI callable per scenario (PATH_INFO),
# identical for every server. Django is set up lazily for /django.
import os
import threading
import time

HELLO = b"Hello, World!"
MB = b"x" * 65536
_django = None
_django_lock = threading.Lock()


def _django_app():
    global _django
    if _django is not None:
        return _django
    # The first requests come at once on several threads: set up once.
    with _django_lock:
        if _django is not None:
            return _django
        from django.conf import settings

        here = os.path.dirname(os.path.abspath(__file__))
        settings.configure(
            DEBUG=False, SECRET_KEY="bench" * 10, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[], INSTALLED_APPS=[],
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                        "DIRS": [os.path.join(here, "templates")]}],
        )
        import django

        django.setup()
        from django.core.wsgi import get_wsgi_application

        _django = get_wsgi_application()
    return _django


def django_view(request):
    from django.shortcuts import render

    return render(request, "page.html", {"items": range(20), "title": "Bench"})


try:
    from django.urls import path

    urlpatterns = [path("django", django_view)]
except ImportError:
    urlpatterns = []


def application(environ, start_response):
    p = environ.get("PATH_INFO", "/")
    if p == "/django":
        return _django_app()(environ, start_response)
    if p == "/io":
        time.sleep(0.05)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    if p == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (MB for _ in range(16))
    if p == "/upload":
        inp, total = environ["wsgi.input"], 0
        while True:
            b = inp.read(65536)
            if not b:
                break
            total += len(b)
        body = str(total).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]
