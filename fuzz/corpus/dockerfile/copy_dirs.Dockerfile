# COPY/ADD of a directory copies its contents (with or without trailing slashes),
# into new and existing directories; single files to file and directory destinations.
# prepare.sh adds an empty directory and a 0750 one (git keeps neither).
ARG BASE
FROM $BASE
COPY dir /c1
COPY dir/ /c2/
COPY dir /c3/
ADD dir /a1
COPY dir/sub /c4/sub
COPY dir/a.txt /c5
COPY dir/a.txt /c6/
RUN mkdir /existing && echo before > /existing/before.txt
COPY dir /existing
COPY . /whole/
