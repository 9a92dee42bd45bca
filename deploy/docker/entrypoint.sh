#!/bin/sh
# Entry point of every service image.
#   serve | migrate [args]  -> python -m $PORTAL_SERVICE serve|migrate [args]
#   anything else           -> run as given (python -m servicekit.topics ensure, sh, ...)
set -eu

case "${PORTAL_SERVICE:-}" in
  identity | delegation | billing | fleet | einvoice | notifier) ;;
  *)
    # An image built with SERVICE=all holds the six: the environment picks one.
    echo "entrypoint: PORTAL_SERVICE='${PORTAL_SERVICE:-}' is not a portal service; set PORTAL_SERVICE=identity|delegation|billing|fleet|einvoice|notifier" >&2
    exit 64
    ;;
esac

# Inside a container the service must listen on every interface; the settings default
# (127.0.0.1) is right for a laptop only. An explicit <SERVICE>_HOST still wins.
prefix=$(printf '%s' "$PORTAL_SERVICE" | tr '[:lower:]' '[:upper:]')
eval "export ${prefix}_HOST=\"\${${prefix}_HOST:-0.0.0.0}\""

case "${1:-serve}" in
  serve | migrate) exec python -m "$PORTAL_SERVICE" "$@" ;;
  *) exec "$@" ;;
esac
