# SHELL changes RUN, CMD and ENTRYPOINT shell forms (not HEALTHCHECK's CMD-SHELL).
ARG BASE
FROM $BASE
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "$-" | grep -q e && echo errexit > /flags.txt
ENTRYPOINT echo entrypoint
CMD echo shell form cmd
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo "$0" > /second.txt
HEALTHCHECK CMD echo ok
STOPSIGNAL 9
