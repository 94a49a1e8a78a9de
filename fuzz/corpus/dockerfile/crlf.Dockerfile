FROM busybox
RUN echo crlf \
  continued

# comment
CMD ["sh"]
