# --target stops at a middle stage; the later stage (which would fail) is not built.
ARG BASE
FROM $BASE AS builder
RUN echo built > /artifact

FROM builder AS test
RUN cp /artifact /tested
LABEL stage=test

FROM $BASE AS release
RUN false
