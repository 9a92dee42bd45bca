from notifier.main import MIGRATIONS_DIR, create_app
from notifier.settings import NotifierSettings
from servicekit.cli import main_for

main_for(NotifierSettings, create_app, MIGRATIONS_DIR)
