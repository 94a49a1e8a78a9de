# Drydock in a container: a build stage that compiles the server, and a slim runtime
# stage with only the shared libraries it links (ldd) plus runc and CA certificates.
#
#   docker build -f docker/Dockerfile -t drydock:local .          (from the repository root)
#   drydock build -f docker/Dockerfile --target runtime -t team/drydock:1 .
#   docker run -p 5000:5000 -v drydock-data:/var/lib/drydock drydock:local
#
# The image runs as the non-root user `drydock` with builds OFF (config.json): the build
# service needs root for overlayfs mounts and runc. To build images inside the container
# run it as root and privileged with config.builds.json: see docker/README.md and
# docker/compose.builds.yaml.
#
# Base images are pinned to a dated Debian 12 tag; override with --build-arg DEBIAN=...,
# or one stage's base with BUILD_BASE / RUNTIME_BASE (the end-to-end test passes Debian 12
# bases it made with mmdebstrap that already hold these packages).
#
# Each stage installs its packages only if one is missing: RUN steps of a Drydock build
# have no network by default, so on a base that has them, no `apt-get update` may run.
# The package lists are also in scripts/deps (image_build_pkgs, image_runtime_pkgs),
# which makes the test's bases: change both together (a unit test compares them).
ARG DEBIAN=debian:bookworm-20251229-slim
ARG BUILD_BASE=${DEBIAN}
ARG RUNTIME_BASE=${DEBIAN}

FROM ${BUILD_BASE} AS build
RUN pkgs="g++ cmake ninja-build pkg-config ca-certificates \
      libboost1.81-dev libssl-dev nlohmann-json3-dev libsqlite3-dev libarchive-dev zlib1g-dev" \
 && if ! dpkg -s $pkgs >/dev/null 2>&1; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY CMakeLists.txt ./
COPY config/ config/
COPY storage/ storage/
COPY auth/ auth/
COPY registry/ registry/
COPY builder/ builder/
COPY server/ server/
COPY bench/ bench/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build --target drydock \
 && install -D -s -m 0755 /build/server/drydock /out/usr/local/bin/drydock

FROM ${RUNTIME_BASE} AS runtime
# libssl3, libsqlite3-0, libarchive13 and zlib1g are what `ldd drydock` names beyond libc
# and libstdc++; runc runs RUN steps when builds are on; ca-certificates for https upstreams.
RUN pkgs="libssl3 libsqlite3-0 libarchive13 zlib1g runc ca-certificates" \
 && if ! dpkg -s $pkgs >/dev/null 2>&1; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 drydock \
 && useradd --system --uid 10001 --gid drydock --home-dir /var/lib/drydock --no-create-home \
      --shell /usr/sbin/nologin drydock \
 && install -d -o drydock -g drydock -m 0750 /var/lib/drydock
COPY --from=build /out/ /
COPY docker/config.json /etc/drydock/config.json
LABEL org.opencontainers.image.title="drydock" \
      org.opencontainers.image.description="OCI registry with a build service"
USER 10001:10001
WORKDIR /var/lib/drydock
VOLUME ["/var/lib/drydock"]
EXPOSE 5000
# GET /v2/ over plain HTTP with bash's /dev/tcp (the slim image has no curl): healthy on
# 200, or 401 when auth is on. A server configured for TLS needs another check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /v2/ HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 _ status _ <&3 && [[ $status == 200 || $status == 401 ]]"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/drydock"]
CMD ["serve", "--config", "/etc/drydock/config.json"]
