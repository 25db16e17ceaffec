# Settings of test site A (one of two Django projects in one daemon group).
SECRET_KEY = "quill-test-site-a"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "site_a.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True
SITE_LABEL = "site A"
