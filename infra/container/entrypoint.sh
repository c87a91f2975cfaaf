#!/bin/sh
# The image's entry: the worker named by the first argument (exec'd, so it receives SIGTERM
# and drains within SHUTDOWN_DEADLINE), or the recfleet CLI.
set -eu
case "${1:-help}" in
  ingest | features | trainer | scorer | gateway)
    worker=$1
    shift
    exec node --import tsx "/app/services/$worker/src/main.ts" "$@"
    ;;
  recfleet)
    shift
    exec node /app/apps/cli/bin/recfleet.mjs "$@"
    ;;
  *)
    echo "usage: ingest | features | trainer | scorer | gateway   (one worker)" >&2
    echo "       recfleet <command> …                            (the CLI, e.g. recfleet keys create …)" >&2
    [ "${1:-help}" = help ] && exit 0
    exit 64
    ;;
esac
