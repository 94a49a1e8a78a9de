# COPY --from a stage by name, by index, and an image by reference
# (@BASE@ is replaced with the base image reference by the test: the built-in
# BuildKit frontend of Docker 20.10 does not expand ARGs in --from).
ARG BASE
FROM $BASE AS first
RUN mkdir -p /out/sub && echo first > /out/first.txt && echo deep > /out/sub/deep.txt

FROM $BASE AS second
RUN echo second > /second.txt

FROM $BASE
COPY --from=first /out/first.txt /from-name.txt
COPY --from=1 /second.txt /from-index.txt
COPY --from=@BASE@ /bin/busybox /from-image/busybox
COPY --from=first /out /out-dir
