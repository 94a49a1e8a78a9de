# COPY --link into an existing directory and into a new one.
ARG BASE
FROM $BASE
RUN mkdir /target && echo base > /target/existing.txt
COPY --link file.txt /target/
COPY --link dir/ /linked-dir/
COPY --link --chmod=700 file.txt /linked-mode.txt
