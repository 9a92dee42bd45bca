#!/bin/bash
# Container health probe for images without curl or Python: GET a URL path on 127.0.0.1
# with bash's /dev/tcp, healthy when the status is one of the accepted codes.
#
#   http-probe.sh PORT PATH [ACCEPTED_CODES_REGEX]     (default: 2xx)
set -euo pipefail
port=$1 path=$2 accept=${3:-2[0-9][0-9]}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
read -r -t 5 _ code _ <&3 || exit 1
[[ $code =~ ^($accept)$ ]]
