# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
WORKDIR C:\app
COPY testfile.txt c:\
RUN dir c:\ `
    && echo done
ENV PATH="C:\Program Files\app;${PATH}"
