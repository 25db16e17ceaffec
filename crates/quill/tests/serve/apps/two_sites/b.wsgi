# Site B's WSGI script. The settings module is assigned, not set with
# os.environ.setdefault as Django's template does: the process
# environment is shared by every interpreter of the process, and a
# sub-interpreter created later starts with what an earlier one put there
# (docs/interpreters.md).
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "site_b.settings"

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
