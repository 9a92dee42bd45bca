from identity.main import MIGRATIONS_DIR, create_app
from identity.settings import IdentitySettings
from servicekit.cli import main_for

main_for(IdentitySettings, create_app, MIGRATIONS_DIR)  # type: ignore[arg-type]
