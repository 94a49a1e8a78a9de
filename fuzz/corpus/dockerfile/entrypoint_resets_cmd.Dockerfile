# The base's CMD ["/bin/sh"] is reset by a shell-form ENTRYPOINT in this stage.
ARG BASE
FROM $BASE
ENTRYPOINT /bin/echo shell form entrypoint
