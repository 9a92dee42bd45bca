from fastapi import FastAPI

from identity.main import MIGRATIONS_DIR, create_app
from identity.settings import IdentitySettings
from servicekit.cli import main_for
from servicekit.settings import ServiceSettings


def _app(settings: ServiceSettings) -> FastAPI:
    # main_for hands back the settings its factory (IdentitySettings) built.
    assert isinstance(settings, IdentitySettings)
    return create_app(settings)


main_for(IdentitySettings, _app, MIGRATIONS_DIR)
