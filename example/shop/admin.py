from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "total", "created_at", "paid_at", "receipt_sent_at", "reminder_sent_at", "shipped_at"]
