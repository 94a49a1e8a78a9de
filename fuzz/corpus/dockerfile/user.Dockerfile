# USER by name (from the image's /etc/passwd), by uid:gid, and what RUN and WORKDIR do as it.
ARG BASE
FROM $BASE
COPY passwd group /etc/
RUN mkdir /home && mkdir /home/app && chown app:app /home/app
USER app
WORKDIR /home/app/work
RUN touch /home/app/created-by-app && id > /home/app/id.txt
USER 2000:3000
RUN touch /tmp/by-2000 && id > /tmp/id-2000.txt
USER app:extra
RUN id > /tmp/id-app-extra.txt
