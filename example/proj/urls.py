# The admin shows the queue tables ("Message queues (django://)") and orders.
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
