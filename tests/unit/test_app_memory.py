"""An app made for one test is freed once the test is over (tests/helpers.py,
forget_endpoints): a worker that runs hundreds of tests does not keep hundreds of apps, whose
garbage collections once paused it for seconds."""

from __future__ import annotations

import gc
import weakref

from services.api.app import create_app
from services.core.platform.settings import Settings
from tests.helpers import forget_endpoints


def test_an_app_is_freed_once_its_endpoints_are_forgotten() -> None:
    app = create_app(Settings(jwt_secret="x" * 40))
    app.openapi()  # the document is the largest thing an app keeps
    gone = weakref.ref(app)
    del app
    gc.collect()
    assert gone() is not None  # FastAPI's caches hold it, as they did every test's app
    forget_endpoints()
    gc.collect()
    assert gone() is None
