# escape=`
# The escape directive makes ` the line continuation and escape character,
# so backslashes are plain characters (Windows-style paths).
ARG BASE
FROM $BASE
RUN echo one `
    two `
    three > /backtick.txt
RUN echo 'C:\path\to' > /backslash.txt
LABEL path=C:\windows\system32 `
      escaped=`$NOT_A_VAR
ENV WIN=C:\dir\ ESC=`$HOME
COPY ["file with spaces.txt", "/spaces/"]
