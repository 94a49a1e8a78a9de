# syntax=docker/dockerfile:1.7
# check=skip=JSONArgsRecommended
ARG BASE=debian:12 VERSION="1.0"
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
LABEL org.opencontainers.image.title="drydock" multi="a b" \
      legacy=value
MAINTAINER Someone <someone@example.com>
ENV PATH=/opt/bin:$PATH HOME=/root
ENV LEGACY value with spaces
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src/${VERSION:-dev}
RUN --mount=type=cache,target=/var/cache/apt --mount=type=bind,source=.,target=/ctx \
    --network=none --security=sandbox \
    apt-get update && apt-get install -y curl
RUN ["/bin/sh", "-c", "echo exec form"]
RUN <<EOT bash
  set -e
  echo "${HOME}"
EOT
RUN 3<<-'EOF' cat /dev/fd/3 && cat <<EOF2
	tab-stripped $NOT_EXPANDED
	EOF
plain $HOME
EOF2
COPY --chown=1000:1000 --chmod=0644 --link --exclude=*.md src/ lib/*.so /app/
COPY --from=build --parents a/b/c /out/
COPY <<one.txt <<"two.txt" /etc/
first ${HOME}
one.txt
second
two.txt
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/a.tar.gz /tmp/
ADD --keep-git-dir=true --unpack=false git@github.com:moby/buildkit.git#v0.10.1 /bk
EXPOSE 80/tcp 443 53/udp ${PORT:-8080}
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp
USER ${USER:-nobody}:nogroup
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --start-interval=5s --retries=3 \
  CMD curl -f http://localhost/ || exit 1
ONBUILD COPY . /app/src
ONBUILD RUN <<EOF
echo onbuild heredoc
EOF
ENTRYPOINT ["/app/bin/server", "--config", "/etc/app.json"]
CMD ["--help"]

FROM scratch AS final
COPY --from=Build /app /app
HEALTHCHECK NONE
ENTRYPOINT []
CMD echo ${A/b/c} ${A//x/y} ${A#pre} ${A##pre} ${A%suf} ${A%%suf} ${A:+set} ${A+set} ${A-d} ${A:?msg}
