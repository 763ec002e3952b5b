from django.apps import AppConfig


class KombuTransportDjangoConfig(AppConfig):
    name = "kombu_transport_django"
    # Not "kombu_transport_django": kombu 3.x used that label, and databases
    # that ran it still record its 0001_initial as applied.
    label = "django_kombu"
    verbose_name = "Message queues (django://)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import register
        from .forking import remember_connection

        register()
        # Every thread's connections, so a fork can deal with those it copies.
        connection_created.connect(remember_connection, dispatch_uid="django_kombu_remember_connection")
