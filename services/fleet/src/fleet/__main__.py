from fleet.main import MIGRATIONS_DIR, create_app
from fleet.settings import FleetSettings
from servicekit.cli import main_for

main_for(FleetSettings, create_app, MIGRATIONS_DIR)  # type: ignore[arg-type]
