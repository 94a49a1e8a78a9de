FROM busybox
RUN echo "unterminated
ENV a=${b
ARG x=${y:-${z:-${w}}}
LABEL "k"="v" \

  k2=v2
