"""The shop's background work: what a Django project typically hands to Celery.

Written against Celery's API; only the import names celery_compat.
"""

import time

from celery_compat import shared_task  # was: from celery import shared_task
from django.db.models import Sum
from django.utils import timezone

from .models import Order


class GatewayTimeout(Exception):
    """The payment provider did not answer in time."""


@shared_task
def send_receipt(order_id):
    # get() cannot miss: the order row and this task's message were committed
    # in one transaction (see example/demo.py), so no worker sees one without
    # the other -- no transaction.on_commit() needed with django://.
    order = Order.objects.get(pk=order_id)
    time.sleep(0.1)  # talking to the mail server
    Order.objects.filter(pk=order_id).update(receipt_sent_at=timezone.now())
    return f"receipt for order #{order.pk} sent to {order.customer}"


@shared_task
def resize_image(n):
    time.sleep(0.2 + (n % 4) * 0.1)  # the CPU work, simulated
    return f"photo-{n}-256px.jpg"


@shared_task
def make_gallery(photos):
    """A chord's body: runs once, after every photo of its header is resized."""
    return {"gallery": sorted(photos), "photos": len(photos)}


@shared_task(bind=True, max_retries=3)
def charge_card(self, order_id):
    if self.request.retries == 0:
        # The first attempt always "times out", to show a retry: the task is
        # published again with an ETA one second ahead, and the transport
        # keeps that message invisible in the table until then.
        raise self.retry(exc=GatewayTimeout("payment gateway timed out"), countdown=1)
    Order.objects.filter(pk=order_id).update(paid_at=timezone.now())
    return {"order": order_id, "retries": self.request.retries}


@shared_task
def reserve_stock(order_id):
    """A chain's first step: its return value is the next step's first argument."""
    time.sleep(0.1)
    return order_id


@shared_task
def pack_order(order_id):
    time.sleep(0.2)
    return order_id


@shared_task
def ship_order(order_id):
    Order.objects.filter(pk=order_id).update(shipped_at=timezone.now())
    return f"order #{order_id} shipped"


@shared_task
def send_reminder(order_id):
    Order.objects.filter(pk=order_id).update(reminder_sent_at=timezone.now())
    return f"reminder for order #{order_id} sent"


@shared_task
def build_sales_report():
    time.sleep(2.5)  # a slow query over a big table, simulated
    totals = Order.objects.aggregate(revenue=Sum("total"))
    return {"orders": Order.objects.count(), "revenue": str(totals["revenue"] or 0)}


@shared_task
def refresh_sales_stats():
    """Periodic (CELERY_BEAT_SCHEDULE in proj/settings.py): sent by `runworker -B`."""
    return {"orders": Order.objects.count(), "paid": Order.objects.filter(paid_at__isnull=False).count()}
