# COPY/ADD --chown (numeric, names from the image's files, user only) and --chmod.
ARG BASE
FROM $BASE
COPY passwd group /etc/
COPY --chown=1234:5678 f.txt /own/numeric.txt
COPY --chown=app:app f.txt /own/named.txt
COPY --chown=app f.txt /own/user-only.txt
COPY --chown=app dir /own/dir/
COPY --chmod=600 f.txt /mode/600.txt
COPY --chmod=755 dir/ /mode/dir/
COPY --chown=42:42 --chmod=640 dir /both/
ADD --chown=7:8 f.txt /own/add.txt
ADD --chmod=444 f.txt /mode/add.txt
