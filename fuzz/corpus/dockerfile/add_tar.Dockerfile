# ADD auto-extracts local tars (plain, gzip, xz; uid and modes from the tar); COPY does not.
# The archives are made by prepare.sh.
ARG BASE
FROM $BASE
ADD plain.tar /extracted/plain/
ADD comp.tar.gz /extracted/gz
ADD comp.tar.xz /extracted/xz/
COPY plain.tar /copied/
ADD not-a-tar.tar /not-a-tar/
