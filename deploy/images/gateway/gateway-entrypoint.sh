#!/bin/bash
# Makes a self-signed certificate when none is mounted, checks the configuration, then
# runs nginx in the foreground as PID 1.
set -euo pipefail
tls=/etc/nginx/tls
if [[ ! -s $tls/tls.crt || ! -s $tls/tls.key ]]; then
  name="${GATEWAY_TLS_NAME:-localhost}"
  echo "gateway-entrypoint: no certificate mounted, making a self-signed one for $name"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls/tls.key" -out "$tls/tls.crt" 2>/dev/null
fi
nginx -t -q
exec nginx -g 'daemon off;'
