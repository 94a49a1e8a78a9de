# .dockerignore with **, ! exceptions, directories and root-only patterns.
ARG BASE
FROM $BASE
COPY . /ctx/
