#!/bin/sh
# `wget [-q] [-O FILE] URL` for the Prometheus stand-in's healthcheck (the upstream image has
# busybox wget; the stand-in has curl). Exit status non-zero on any HTTP error, like wget.
out=- url=
while [ $# -gt 0 ]; do
  case "$1" in
    -O) out="$2"; shift ;;
    -O*) out="${1#-O}" ;;
    -*) ;;
    *) url="$1" ;;
  esac
  shift
done
[ -n "$url" ] || { echo "usage: wget [-q] [-O FILE] URL" >&2; exit 2; }
exec curl -fsS --max-time 10 -o "$out" "$url"
