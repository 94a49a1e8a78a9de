# CMD then ENTRYPOINT in the same stage: CMD is kept.
ARG BASE
FROM $BASE
CMD ["first", "second"]
ENTRYPOINT ["/bin/echo"]
