from django.apps import AppConfig


class FieldServiceConfig(AppConfig):
    name = "field_service"
