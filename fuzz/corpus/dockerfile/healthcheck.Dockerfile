# HEALTHCHECK with every option, in shell form.
ARG BASE
FROM $BASE
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=4 \
  CMD cat /healthy || exit 1
