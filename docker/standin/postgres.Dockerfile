# Stand-in for the upstream `postgres` image, built from Debian bookworm's postgresql-15 for
# machines that cannot pull images. NOT the upstream image: only the parts of its contract that
# regcase's Compose files rely on are reproduced (see postgres-entrypoint.sh).
# Built by scripts/build-standin-images.sh; BASE is the locally imported Debian rootfs.
ARG BASE=regcase-standin/debian-base:bookworm
FROM ${BASE}
# Numeric ids (postgres = 999:999 as upstream) and directories are prepared in the rootfs by
# scripts/build-standin-images.sh, so `user: "999:999"` works for both images.
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
LABEL org.opencontainers.image.title="regcase stand-in postgres (Debian postgresql-15, NOT upstream)" \
      org.opencontainers.image.description="Local stand-in for postgres images; built by scripts/build-standin-images.sh"
VOLUME /var/lib/postgresql/data
USER 999:999
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
