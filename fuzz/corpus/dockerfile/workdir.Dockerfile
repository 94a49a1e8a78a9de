# WORKDIR: absolute, relative chaining, .. and ., from ENV; COPY relative to it.
ARG BASE
FROM $BASE
WORKDIR /a
WORKDIR b
WORKDIR ../c/./d
ENV SUB=sub
WORKDIR $SUB
RUN pwd > /pwd.txt
COPY f.txt .
COPY f.txt rel/
WORKDIR /created/by/workdir/only
