# The view both sites mount: what this interpreter sees.
import json
import os
import sys

import mod_wsgi
from django.conf import settings
from django.http import HttpResponse

import shared_state


def info(request):
    if "set" in request.GET:
        shared_state.value = request.GET["set"]
    return HttpResponse(
        json.dumps(
            {
                "label": settings.SITE_LABEL,
                "settings_module": settings.SETTINGS_MODULE,
                "root_urlconf": settings.ROOT_URLCONF,
                "shared": shared_state.value,
                "pid": os.getpid(),
                "application_group": mod_wsgi.application_group,
                "environ_application_group": request.META["mod_wsgi.application_group"],
                "site_modules": sorted(m for m in sys.modules if m.startswith("site_")),
            }
        ),
        content_type="application/json",
    )
