from django.urls import path

from common_views import info

urlpatterns = [path("info", info)]
