#!/bin/sh
# Entry point of every leadfleet container.
#
# With `docker compose --profile demo up` the simulator writes the LEADFLEET_* settings of its
# org to SIMULATOR_SETTINGS_FILE. They are read only when no org is configured (no consumer key
# in the environment), so a real org's settings from .env always win, even over a file left
# behind by an earlier demo.
set -eu

if [ -n "${SIMULATOR_SETTINGS_FILE:-}" ] && [ -z "${LEADFLEET_SALESFORCE__CONSUMER_KEY:-}" ] \
        && [ -r "${SIMULATOR_SETTINGS_FILE}" ]; then
    set -a
    # shellcheck disable=SC1090
    . "${SIMULATOR_SETTINGS_FILE}"
    set +a
fi

exec "$@"
