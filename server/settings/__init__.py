"""Settings entry point: picks ``dev``, ``test`` or ``prod`` from ``FIELDLINE_ENV``."""

from server.settings.env import CONFIG

if CONFIG.env_name == "prod":
    from server.settings.prod import *  # noqa: F403
elif CONFIG.env_name == "test":
    from server.settings.test import *  # noqa: F403
else:
    from server.settings.dev import *  # noqa: F403
