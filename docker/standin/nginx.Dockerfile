# Stand-in for the upstream `nginx` image, built from Debian bookworm's nginx 1.22 for machines
# that cannot pull images. NOT the upstream image. regcase's proxy runs nginx as 101:101 (the
# upstream image's nginx uid) with its own nginx.conf, so only the binary, mime.types and curl
# (for the healthcheck) matter.
ARG BASE=regcase-standin/debian-base:bookworm
FROM ${BASE}
LABEL org.opencontainers.image.title="regcase stand-in nginx (Debian nginx 1.22, NOT upstream)" \
      org.opencontainers.image.description="Local stand-in for nginx images; built by scripts/build-standin-images.sh"
USER 101:101
EXPOSE 8080 8443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]
