# RUN in shell form and exec form, quoting, and the shell's argv.
ARG BASE
FROM $BASE
RUN echo shell form > /shell.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
RUN ["/bin/busybox", "mkdir", "-p", "/made/by/exec"]
RUN echo "double  quoted" > /quoted.txt && echo 'single $HOME' >> /quoted.txt
RUN echo "$0" > /argv0.txt; echo "$@" >> /argv0.txt
RUN ["/bin/sh", "-c", "echo $0 $1 > /exec-args.txt", "zero", "one"]
