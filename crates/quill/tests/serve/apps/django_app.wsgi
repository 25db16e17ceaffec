# A one-file Django project.
import os

from django.conf import settings

HERE = os.path.dirname(os.path.abspath(__file__))

settings.configure(
    DEBUG=False,
    SECRET_KEY="quill-test-" + "x" * 40,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
    INSTALLED_APPS=[],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [os.path.join(HERE, "templates")]}],
)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, StreamingHttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


def form(request):
    if request.method == "POST":
        return HttpResponse("hello " + request.POST["name"], content_type="text/plain")
    return render(request, "form.html", {"title": "Django on Quill"})


def upload(request):
    f = request.FILES["file"]
    return HttpResponse("%s %d" % (f.name, f.size), content_type="text/plain")


def stream(request):
    return StreamingHttpResponse((c + "\n" for c in "abc"), content_type="text/plain")


urlpatterns = [path("form/", form), path("upload/", upload), path("stream/", stream)]

application = get_wsgi_application()
