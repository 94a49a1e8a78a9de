# Deletions in a RUN layer: files from the base image and from earlier layers, a
# directory replaced by a file, a file replaced by a directory, a directory emptied and
# refilled (opaque), and a file deleted that the previous RUN added.
ARG BASE
FROM $BASE AS base
RUN mkdir -p /data/dir/sub /data/replace-dir /data/opaque && \
    echo 1 > /data/file && echo 2 > /data/dir/sub/f && echo 3 > /data/replace-dir/g && \
    echo 4 > /data/replace-file && echo 5 > /data/opaque/old && echo keep > /data/keep

FROM base
RUN rm /data/file /bin/cat && rm -r /data/dir && \
    rm -r /data/replace-dir && echo now-a-file > /data/replace-dir && \
    rm /data/replace-file && mkdir /data/replace-file && echo inside > /data/replace-file/x && \
    rm -r /data/opaque && mkdir /data/opaque && echo new > /data/opaque/new && \
    echo added > /data/added
RUN rm /data/added /bin/ls && chmod 700 /data/opaque
