# Symbolic and hard links: copied from the context (a directory copy keeps links as
# links; a symlink named as the source is followed), made by RUN, and a hard link to a
# file of a lower layer.
ARG BASE
FROM $BASE
COPY ctx/ /ctx/
COPY ctx/symlink /followed-symlink.txt
COPY ctx/dirlink /followed-dirlink/
RUN mkdir /r && echo content > /r/file && ln /r/file /r/hard && ln -s file /r/rel && \
    ln -s /r/file /r/abs && ln -s missing /r/dangling && ln -s /r /rdir
RUN ln /bin/busybox /bin/busybox-hard && ln -sf /r/file /r/rel
