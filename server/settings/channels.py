"""Channel layer and cache: in memory by default, Redis in production."""

from typing import Any


def in_memory() -> tuple[dict[str, Any], dict[str, Any]]:
    layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return layers, caches


def redis(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [url]},
        }
    }
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "fieldline",
        }
    }
    return layers, caches
