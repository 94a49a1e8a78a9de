# LABEL, EXPOSE (protocols, ranges), VOLUME (both forms; BuildKit neither makes the
# directory nor drops what a later RUN writes there), STOPSIGNAL.
ARG BASE
FROM $BASE
LABEL a=1 "b c"="d e" multi="line1 \
line2"
LABEL org.example.empty="" a=2
EXPOSE 80 53/udp 8000-8002/tcp
EXPOSE 443/tcp
VOLUME /data
VOLUME ["/vol1", "/vol2"]
RUN mkdir -p /data && echo after-volume > /data/written.txt
STOPSIGNAL SIGUSR1
