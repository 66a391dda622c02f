# Stand-in for the upstream `prom/prometheus` image, built from Debian bookworm's `prometheus`
# package (2.42) for machines that cannot pull images. NOT the upstream image. The binaries come
# from the .deb (downloaded with apt-get from the machine's Debian mirror and unpacked by
# scripts/build-standin-images.sh --prometheus); the rest reproduces what compose.observability.yml
# relies on: uid/gid 65534 (nobody), /prometheus writable by it (the TSDB volume), /etc/prometheus,
# and a `wget -q -O FILE URL` for the healthcheck (upstream ships busybox wget; here a small
# wrapper around curl, which the base has).
ARG BASE=regcase-standin/debian-base:bookworm
FROM ${BASE}
LABEL org.opencontainers.image.title="regcase stand-in prometheus (Debian prometheus 2.42, NOT upstream)" \
      org.opencontainers.image.description="Local stand-in for prom/prometheus; built by scripts/build-standin-images.sh --prometheus"
COPY prometheus promtool /usr/bin/
COPY prometheus-wget.sh /usr/local/bin/wget
COPY --chown=65534:65534 empty/ /prometheus/
COPY empty/ /etc/prometheus/
USER 65534:65534
VOLUME /prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
