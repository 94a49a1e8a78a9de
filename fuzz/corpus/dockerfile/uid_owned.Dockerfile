# Ownership: COPY/ADD of a uid-owned context file (becomes root), ADD of a tar with
# uid-owned entries (kept), and files chowned, setuid and sticky by RUN.
ARG BASE
FROM $BASE
COPY owned.txt /copied-owned.txt
ADD owned.txt /added-owned.txt
ADD owned.tar /from-tar/
RUN mkdir /runowned && echo x > /runowned/f && chown -R 4321:8765 /runowned && \
    chmod 4755 /runowned/f && mkdir -m 1777 /runowned/sticky
