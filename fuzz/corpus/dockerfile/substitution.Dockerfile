# Variable substitution: $V, ${V}, ${V:-x}, ${V:+y}, escaped \$, in several instructions.
ARG BASE
FROM $BASE
ARG SET=value
ARG EMPTY=
ENV S1=${SET:-fallback} S2=${UNSET:-fallback} S3=${SET:+alt} S4=${UNSET:+alt}
ENV S5=${EMPTY:-empty-default} S6=x${EMPTY:+never}x ESC=\$SET BRACED=pre${SET}post
WORKDIR /w/${SET}
LABEL sub.label=${SET:+yes} sub.other="${UNSET:-no}"
EXPOSE ${PORT:-8080}
COPY ${SRC:-a.txt} ./${SET}.txt
RUN echo "$SET ${SET:+plus} ${UNSET:-minus}" > /w/run.txt
USER ${RUNAS:-0}
