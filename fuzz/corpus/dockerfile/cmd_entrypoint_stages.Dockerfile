# CMD set in a parent stage is reset by ENTRYPOINT in a child stage; exec-form CMD after it.
ARG BASE
FROM $BASE AS parent
CMD ["parent", "cmd"]

FROM parent AS reset
ENTRYPOINT ["/bin/ls", "-l"]

FROM reset
CMD ["/etc"]
