# Stand-in for the upstream `golang:1.26-bookworm` image, for machines without a registry: the
# Debian bookworm stand-in rootfs plus the host's own Go toolchain (copied from its GOROOT by
# scripts/build-standin-images.sh --golang). NOT the upstream image. Lets the DEFAULT target of
# docker/Dockerfile (compile inside the build stage) be exercised offline:
#   GO_IMAGE=regcase-standin/golang:1.26-bookworm scripts/build-image.sh --from-source
ARG BASE=regcase-standin/debian-base:bookworm
FROM ${BASE}
COPY go/ /usr/local/go/
# This host's CA bundle: the module proxy must be reachable from the build container with the
# same trust as from the host (some CI networks re-sign TLS with their own CA).
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOPATH=/go \
    GOTOOLCHAIN=local
WORKDIR /go
LABEL org.opencontainers.image.title="regcase stand-in golang (host Go toolchain on Debian bookworm, NOT upstream)"
