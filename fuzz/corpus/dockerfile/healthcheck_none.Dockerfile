# HEALTHCHECK in exec form in a parent stage, disabled with NONE in the child.
ARG BASE
FROM $BASE AS checked
HEALTHCHECK --interval=5s CMD ["/bin/cat", "/healthy"]

FROM checked
HEALTHCHECK NONE
