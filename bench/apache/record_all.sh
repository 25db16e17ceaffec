#!/usr/bin/env bash
# Remake every recording of real Apache under tests/data/recordings/ (one after
# another, never in parallel; about 15 minutes).  Usage, from anywhere:
#   bash bench/apache/record_all.sh            # all scenarios
#   bash bench/apache/record_all.sh NAME ...   # only these scenarios
# Needs root (Apache drops to www-data) and Debian 12's apache2 and
# libapache2-mod-wsgi-py3, which are installed here if missing, without
# starting the system's apache2 service.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/sbin/apache2 ] || [ ! -e /usr/lib/apache2/modules/mod_wsgi.so ]; then
    policy_added=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # keep the package scripts from starting the system service
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends apache2 libapache2-mod-wsgi-py3
    [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
fi

if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for d in bench/apache/scenarios/*/; do names+=("$(basename "$d")"); done
fi

for name in "${names[@]}"; do
    echo "=== $name"
    rm -rf "tests/data/recordings/$name"
    python3 bench/apache/record.py "bench/apache/scenarios/$name" --out "tests/data/recordings/$name"
done
