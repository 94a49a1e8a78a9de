RUN echo before from
FROM a AS x
FROM b AS X
COPY --bogus=1 a b
HEALTHCHECK --interval=nope CMD true
SHELL echo not json
RUN <<EOF
never ends
