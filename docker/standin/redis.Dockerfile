# Stand-in for the upstream `redis` image, built from Debian bookworm's redis-server 7.0 for
# machines that cannot pull images. NOT the upstream image. Same numeric ids as upstream
# (redis = 999:999, prepared in the rootfs by the build script) and the same data directory (/data).
ARG BASE=regcase-standin/debian-base:bookworm
FROM ${BASE}
LABEL org.opencontainers.image.title="regcase stand-in redis (Debian redis-server 7.0, NOT upstream)" \
      org.opencontainers.image.description="Local stand-in for redis images; built by scripts/build-standin-images.sh"
VOLUME /data
WORKDIR /data
USER 999:999
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
