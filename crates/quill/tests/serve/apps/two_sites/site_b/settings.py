# Settings of test site B (one of two Django projects in one daemon group).
SECRET_KEY = "quill-test-site-b"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "site_b.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True
SITE_LABEL = "site B"
