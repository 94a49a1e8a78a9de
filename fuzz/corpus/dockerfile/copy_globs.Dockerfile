# COPY/ADD sources with *, ? and [] globs, matching files and directories.
ARG BASE
FROM $BASE
COPY *.conf /globs/conf/
COPY x?.conf /globs/question/
COPY src/*.txt /globs/txt/
COPY src/[ab].txt /globs/class/
COPY sr*/su* /globs/dirs/
ADD src/*.md /globs/add/
